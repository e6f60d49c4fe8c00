//! Directory `KvStore` latency, side by side: embedded redb (one fsync per commit) against a
//! private Redis with AOF `appendfsync always` (same durability) and `everysec` (the usual
//! production setting), over loopback.
//!
//! - `write`: one commit of one 256-byte value (a new scope version each time);
//! - `cas_batch`: read a record, then commit 10 puts guarded by its version;
//! - `read`: one get of an existing key.
//!
//! Needs `redis-server` on PATH (fails loudly otherwise). Run:
//! `cargo bench -p switchboard-bench --bench directory_store`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_directory::store::redb::RedbStore;
use switchboard_directory::store::redis::{RedisConfig, RedisStore};
use switchboard_directory::store::{Scope, SharedStore, WriteBatch};

struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start(fsync: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", fsync])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed for this benchmark (apt-get install redis-server)");
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(port: u16) -> SharedStore {
    // The server needs a moment to listen; bounded retries.
    for _ in 0..100 {
        if let Ok(s) =
            RedisStore::connect(RedisConfig::new(format!("redis://127.0.0.1:{port}/"))).await
        {
            return Arc::new(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server on {port} never answered");
}

fn bench_store(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: SharedStore) {
    let sc = Scope::tenant("bench").unwrap();
    let value = vec![7u8; 256];
    rt.block_on(store.put(&sc, "read/key", value.clone()))
        .unwrap();
    let mut g = c.benchmark_group(format!("directory_store/{name}"));
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(4));
    let mut i = 0u64;
    g.bench_function("write", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(store.put(&sc, &format!("w/{}", i % 1000), value.clone()))
                .unwrap()
        })
    });
    g.bench_function("cas_batch", |b| {
        b.iter(|| {
            rt.block_on(async {
                let cur = store.get(&sc, "cas/head").await.unwrap();
                let mut batch = WriteBatch::new(sc.clone());
                batch
                    .expect("cas/head", cur.map(|v| v.version))
                    .put("cas/head", value.clone());
                for k in 0..9 {
                    batch.put(format!("cas/{k}"), value.clone());
                }
                store.commit(batch).await.unwrap()
            })
        })
    });
    g.bench_function("read", |b| {
        b.iter(|| rt.block_on(store.get(&sc, "read/key")).unwrap())
    });
    g.finish();
}

fn directory_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let redb: SharedStore = Arc::new(RedbStore::open(&dir.path().join("bench.redb")).unwrap());
    bench_store(c, &rt, "redb", redb);
    for fsync in ["always", "everysec"] {
        let server = Redis::start(fsync);
        let store = rt.block_on(connect(server.port));
        bench_store(c, &rt, &format!("redis_aof_{fsync}"), store);
    }
}

criterion_group!(benches, directory_store);
criterion_main!(benches);
