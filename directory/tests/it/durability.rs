//! Durability and failure behaviour: redb survives `kill -9` of a writer, Redis with AOF
//! survives a SIGKILL + restart, and a dead Redis gives a typed error instead of a hang.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard_directory::error::DirectoryError;
use switchboard_directory::store::redb::RedbStore;
use switchboard_directory::store::{KvStore, Scope, WriteBatch};

use crate::support::{redis_store, start_redis};

const CHILD_ENV: &str = "SB_TEST_REDB_CHILD_PATH";

/// Not a test on its own: the body of the child process that `redb_acknowledged_writes_survive
/// _kill_9` starts (it returns at once when the variable is not set). It commits keys one by
/// one and prints `ack N` after each commit returned.
#[test]
fn redb_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = RedbStore::open(std::path::Path::new(&path)).unwrap();
        let sc = Scope::tenant("acme").unwrap();
        for i in 0..100_000u32 {
            let mut batch = WriteBatch::new(sc.clone());
            batch
                .put(format!("k/{i:06}"), i.to_be_bytes().to_vec())
                .put("last", i.to_be_bytes().to_vec());
            store.commit(batch).await.unwrap();
            println!("ack {i}");
        }
        // The parent kills us long before this.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

#[test]
fn redb_acknowledged_writes_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("directory.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability::redb_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_ack: Option<u32> = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            let n: u32 = n.trim().parse().unwrap();
            last_ack = Some(n);
            if n >= 300 {
                break;
            }
        }
    }
    // SIGKILL while the child is still committing.
    child.kill().unwrap();
    child.wait().unwrap();
    let last_ack = last_ack.expect("the child acknowledged no write");
    assert!(last_ack >= 300);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = RedbStore::open(&path).unwrap();
        let sc = Scope::tenant("acme").unwrap();
        for i in 0..=last_ack {
            let v = store.get(&sc, &format!("k/{i:06}")).await.unwrap();
            assert_eq!(
                v.map(|v| v.value),
                Some(i.to_be_bytes().to_vec()),
                "acked key {i} lost"
            );
        }
        let last = store.get(&sc, "last").await.unwrap().unwrap();
        let last = u32::from_be_bytes(last.value.try_into().unwrap());
        assert!(last >= last_ack);
        // Every acknowledged commit bumped the scope version by one.
        assert!(store.scope_version(&sc).await.unwrap() > u64::from(last_ack));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_with_aof_survives_sigkill_and_restart() {
    let mut server = start_redis(true);
    let sc = Scope::tenant("acme").unwrap();
    {
        let store = redis_store(&server).await;
        for i in 0..100u32 {
            store
                .put(&sc, &format!("k/{i:03}"), i.to_be_bytes().to_vec())
                .await
                .unwrap();
        }
    }
    server.kill();
    server.restart().unwrap();
    let store = redis_store(&server).await;
    for i in 0..100u32 {
        let v = store.get(&sc, &format!("k/{i:03}")).await.unwrap();
        assert_eq!(
            v.map(|v| v.value),
            Some(i.to_be_bytes().to_vec()),
            "key {i} lost"
        );
    }
    assert_eq!(store.scope_version(&sc).await.unwrap(), 100);
    assert_eq!(
        store.scan(&sc, "k/", None, 1000).await.unwrap().items.len(),
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_redis_gives_a_typed_error_not_a_hang() {
    let mut server = start_redis(false);
    let store = redis_store(&server).await;
    let sc = Scope::tenant("acme").unwrap();
    store.put(&sc, "k", vec![1]).await.unwrap();
    server.kill();
    // A generous bound: this is "never hangs", not a performance assertion.
    let bound = Duration::from_secs(30);
    for _ in 0..3 {
        let get = tokio::time::timeout(bound, store.get(&sc, "k"))
            .await
            .expect("get hung");
        assert!(
            matches!(
                get,
                Err(DirectoryError::StoreBackend { .. } | DirectoryError::StoreTimeout { .. })
            ),
            "{get:?}"
        );
        let put = tokio::time::timeout(bound, store.put(&sc, "k", vec![2]))
            .await
            .expect("put hung");
        assert!(put.is_err());
        let scan = tokio::time::timeout(bound, store.scan(&sc, "", None, 10))
            .await
            .expect("scan hung");
        assert!(scan.is_err());
    }
    // Connecting to a dead server fails within the bound too.
    let url = server.url();
    let mut cfg = switchboard_directory::store::redis::RedisConfig::new(url);
    cfg.connect_timeout = Duration::from_millis(500);
    cfg.op_timeout = Duration::from_secs(2);
    let connect = tokio::time::timeout(
        bound,
        switchboard_directory::store::redis::RedisStore::connect(cfg),
    )
    .await
    .expect("connect hung");
    assert!(connect.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_recovers_after_restart_without_aof_data() {
    // After a restart the manager reconnects by itself: calls work again (data without AOF or
    // RDB is gone, which is why ops/directory.md asks for appendonly).
    let mut server = start_redis(false);
    let store = redis_store(&server).await;
    let sc = Scope::tenant("acme").unwrap();
    store.put(&sc, "k", vec![1]).await.unwrap();
    server.restart().unwrap();
    let mut ok = false;
    for _ in 0..50 {
        if store.put(&sc, "k", vec![2]).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "the store never reconnected");
    assert_eq!(store.get(&sc, "k").await.unwrap().unwrap().value, vec![2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_resubscription_announces_resync() {
    // Notifications sent while the subscription was down are lost, so after re-subscribing
    // the store tells its subscribers to re-validate every cached snapshot.
    let mut server = start_redis(false);
    let store = redis_store(&server).await;
    let mut events = store.subscribe();
    server.restart().unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Ok(switchboard_directory::store::StoreEvent::Resync) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    })
    .await;
    assert_eq!(got, Ok(true), "no Resync after the Redis restart");
}
