//! The `KvStore` conformance suite: every test runs against redb and against a private Redis.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use switchboard_directory::error::DirectoryError;
use switchboard_directory::store::{KvStore, Scope, StoreEvent, WriteBatch};

use crate::both_backends;
use crate::support::{TestStore, dump};

fn tenant(name: &str) -> Scope {
    Scope::tenant(name).unwrap()
}

both_backends!(
    put_get_delete_and_versions,
    failed_check_changes_nothing,
    batch_applies_all_ops_at_one_version,
    prefix_scan_pages_in_order,
    scopes_are_isolated,
    binary_values_round_trip,
    bad_keys_are_refused,
    concurrent_cas_increments_lose_nothing,
    concurrent_set_additions_both_survive,
    commit_notifies_other_instances,
);

async fn put_get_delete_and_versions(t: TestStore) {
    let s = &*t.store;
    let sc = tenant("acme");
    assert_eq!(s.scope_version(&sc).await.unwrap(), 0);
    assert_eq!(s.get(&sc, "user/1").await.unwrap(), None);
    let v1 = s.put(&sc, "user/1", b"alice".to_vec()).await.unwrap();
    assert_eq!(v1, 1);
    let got = s.get(&sc, "user/1").await.unwrap().unwrap();
    assert_eq!((got.version, got.value.as_slice()), (1, &b"alice"[..]));
    let v2 = s.put(&sc, "user/1", b"alice2".to_vec()).await.unwrap();
    assert_eq!(v2, 2);
    assert_eq!(s.get(&sc, "user/1").await.unwrap().unwrap().version, 2);
    let v3 = s.delete(&sc, "user/1").await.unwrap();
    assert_eq!(v3, 3);
    assert_eq!(s.get(&sc, "user/1").await.unwrap(), None);
    // A re-created key never repeats an old version.
    s.put(&sc, "user/1", b"again".to_vec()).await.unwrap();
    assert_eq!(s.get(&sc, "user/1").await.unwrap().unwrap().version, 4);
    assert_eq!(s.scope_version(&sc).await.unwrap(), 4);
    // Deleting an absent key is not an error (and still counts as a write).
    assert_eq!(s.delete(&sc, "nope").await.unwrap(), 5);
}

async fn failed_check_changes_nothing(t: TestStore) {
    let s = &*t.store;
    let sc = tenant("acme");
    s.put(&sc, "a", b"1".to_vec()).await.unwrap();
    s.put(&sc, "b", b"2".to_vec()).await.unwrap();
    let before = dump(s, &sc).await;
    let version_before = s.scope_version(&sc).await.unwrap();

    // Wrong version on one key, with puts and deletes of other keys in the same batch.
    let mut batch = WriteBatch::new(sc.clone());
    batch
        .expect_version("b", 2)
        .expect_version("a", 99)
        .put("c", b"3".to_vec())
        .delete("b");
    match s.commit(batch).await {
        Err(DirectoryError::Conflict {
            key,
            expected,
            found,
            ..
        }) => {
            assert_eq!((key.as_str(), expected, found), ("a", Some(99), Some(1)));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // "Absent" on an existing key fails too; "version" on a missing key fails.
    let mut batch = WriteBatch::new(sc.clone());
    batch.expect_absent("a").put("c", vec![]);
    assert!(matches!(
        s.commit(batch).await,
        Err(DirectoryError::Conflict {
            found: Some(1),
            expected: None,
            ..
        })
    ));
    let mut batch = WriteBatch::new(sc.clone());
    batch.expect_version("zz", 1).put("c", vec![]);
    assert!(matches!(
        s.commit(batch).await,
        Err(DirectoryError::Conflict {
            found: None,
            expected: Some(1),
            ..
        })
    ));
    assert_eq!(dump(s, &sc).await, before);
    assert_eq!(s.scope_version(&sc).await.unwrap(), version_before);

    // With the right versions the same batch applies.
    let mut batch = WriteBatch::new(sc.clone());
    batch
        .expect_version("b", 2)
        .expect_version("a", 1)
        .expect_absent("c")
        .put("c", b"3".to_vec())
        .delete("b");
    assert_eq!(s.commit(batch).await.unwrap(), 3);
    let keys: Vec<String> = dump(s, &sc).await.into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(keys, ["a", "c"]);
}

async fn batch_applies_all_ops_at_one_version(t: TestStore) {
    let s = &*t.store;
    let sc = tenant("acme");
    s.put(&sc, "gone", vec![1]).await.unwrap();
    let mut batch = WriteBatch::new(sc.clone());
    for i in 0..50 {
        batch.put(format!("k/{i:03}"), vec![i]);
    }
    batch
        .delete("gone")
        .put("k/000", b"last write wins".to_vec());
    let v = s.commit(batch).await.unwrap();
    assert_eq!(v, 2);
    let all = dump(s, &sc).await;
    assert_eq!(all.len(), 50);
    assert!(all.iter().all(|(_, ver, _)| *ver == 2));
    assert_eq!(all[0].2, b"last write wins");
}

async fn prefix_scan_pages_in_order(t: TestStore) {
    let s = &*t.store;
    let sc = tenant("acme");
    let mut batch = WriteBatch::new(sc.clone());
    for i in (0..25).rev() {
        batch.put(format!("u/{i:02}"), vec![i]);
    }
    batch
        .put("u", vec![])
        .put("t/1", vec![])
        .put("v/1", vec![])
        .put("u0", vec![]);
    s.commit(batch).await.unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    for _ in 0..10 {
        let page = s.scan(&sc, "u/", after.as_deref(), 10).await.unwrap();
        pages.push(page.items.len());
        seen.extend(page.items.into_iter().map(|(k, _)| k));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, [10, 10, 5]);
    let want: Vec<String> = (0..25).map(|i| format!("u/{i:02}")).collect();
    assert_eq!(seen, want);
    // `after` before the prefix starts at the prefix; a limit of 0 is treated as 1.
    let page = s.scan(&sc, "u/", Some("a"), 0).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].0, "u/00");
    // An exact page size ends with `next: None` only when nothing follows.
    let page = s.scan(&sc, "u/", Some("u/14"), 10).await.unwrap();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.next, None);
    // Empty prefix: everything in key order.
    let all = s.scan(&sc, "", None, 1000).await.unwrap();
    assert_eq!(all.items.len(), 29);
    assert_eq!(all.items[0].0, "t/1");
    assert_eq!(all.items.last().unwrap().0, "v/1");
}

async fn scopes_are_isolated(t: TestStore) {
    let s = &*t.store;
    let (a, b, g) = (tenant("a"), tenant("b"), Scope::global());
    s.put(&a, "k", b"a".to_vec()).await.unwrap();
    s.put(&b, "k", b"b".to_vec()).await.unwrap();
    s.put(&g, "k", b"g".to_vec()).await.unwrap();
    s.put(&a, "k2", b"a".to_vec()).await.unwrap();
    assert_eq!(s.get(&a, "k").await.unwrap().unwrap().value, b"a");
    assert_eq!(s.get(&b, "k").await.unwrap().unwrap().value, b"b");
    assert_eq!(s.get(&g, "k").await.unwrap().unwrap().value, b"g");
    assert_eq!(s.scope_version(&a).await.unwrap(), 2);
    assert_eq!(s.scope_version(&b).await.unwrap(), 1);
    assert_eq!(dump(s, &b).await.len(), 1);
    s.delete(&a, "k").await.unwrap();
    assert!(s.get(&b, "k").await.unwrap().is_some());
}

async fn binary_values_round_trip(t: TestStore) {
    let s = &*t.store;
    let sc = tenant("acme");
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, b'\r', b'\n']).collect();
    s.put(&sc, "bin", bytes.clone()).await.unwrap();
    s.put(&sc, "empty", Vec::new()).await.unwrap();
    s.put(&sc, "ключ/ü", b"utf8 key".to_vec()).await.unwrap();
    assert_eq!(s.get(&sc, "bin").await.unwrap().unwrap().value, bytes);
    assert_eq!(s.get(&sc, "empty").await.unwrap().unwrap().value, b"");
    let page = s.scan(&sc, "ключ/", None, 10).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn bad_keys_are_refused(t: TestStore) {
    let s = &*t.store;
    let sc = tenant("acme");
    s.put(&sc, "ok", vec![1]).await.unwrap();
    let before = dump(s, &sc).await;
    let long = "k".repeat(10_000);
    for bad in ["", "a\0b", long.as_str()] {
        let mut batch = WriteBatch::new(sc.clone());
        batch.put("fine", vec![]).put(bad, vec![]);
        assert!(matches!(
            s.commit(batch).await,
            Err(DirectoryError::InvalidStoreKey(_))
        ));
        assert!(s.get(&sc, bad).await.is_err());
    }
    assert_eq!(dump(s, &sc).await, before);
    assert!(Scope::tenant("a{b}").is_err());
}

/// One CAS-retry increment of a decimal counter; returns the number of conflicts seen.
async fn increment(s: &dyn KvStore, sc: &Scope, key: &str) -> u32 {
    for conflicts in 0..10_000 {
        let cur = s.get(sc, key).await.unwrap();
        let (n, version) = match &cur {
            Some(v) => (
                String::from_utf8(v.value.clone())
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
                Some(v.version),
            ),
            None => (0, None),
        };
        let mut batch = WriteBatch::new(sc.clone());
        batch
            .expect(key, version)
            .put(key, (n + 1).to_string().into_bytes());
        match s.commit(batch).await {
            Ok(_) => return conflicts,
            Err(DirectoryError::Conflict { .. }) => continue,
            Err(e) => panic!("store error: {e}"),
        }
    }
    panic!("no progress after 10000 conflicts");
}

async fn concurrent_cas_increments_lose_nothing(t: TestStore) {
    let sc = tenant("acme");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(&t.store);
        let sc = sc.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..50 {
                conflicts += increment(&*store, &sc, "counter").await;
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let v = t.store.get(&sc, "counter").await.unwrap().unwrap();
    assert_eq!(v.value, b"400", "({conflicts} conflicts retried)");
}

async fn concurrent_set_additions_both_survive(t: TestStore) {
    // Two writers (on two store instances where the backend allows) add different members to
    // the same group record, many times over.
    let sc = tenant("acme");
    let other = t.second_instance().await;
    let mut tasks = Vec::new();
    for (w, store) in [(0u32, Arc::clone(&t.store)), (1, other)] {
        let sc = sc.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40u32 {
                let member = format!("w{w}-m{i}");
                loop {
                    let cur = store.get(&sc, "group/g1").await.unwrap();
                    let mut set: BTreeSet<String> = match &cur {
                        Some(v) => serde_json::from_slice(&v.value).unwrap(),
                        None => BTreeSet::new(),
                    };
                    set.insert(member.clone());
                    let mut batch = WriteBatch::new(sc.clone());
                    batch
                        .expect("group/g1", cur.map(|v| v.version))
                        .put("group/g1", serde_json::to_vec(&set).unwrap());
                    match store.commit(batch).await {
                        Ok(_) => break,
                        Err(DirectoryError::Conflict { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let v = t.store.get(&sc, "group/g1").await.unwrap().unwrap();
    let set: BTreeSet<String> = serde_json::from_slice(&v.value).unwrap();
    assert_eq!(set.len(), 80);
}

async fn commit_notifies_other_instances(t: TestStore) {
    let sc = tenant("acme");
    let other = t.second_instance().await;
    let mut events = other.subscribe();
    let v = t.store.put(&sc, "k", vec![]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await.unwrap() {
                StoreEvent::Changed { scope, version } if scope == sc => return version,
                _ => continue,
            }
        }
    })
    .await
    .expect("no change notification within 10 s");
    assert_eq!(got, v);
    // A failed commit does not notify.
    let mut batch = WriteBatch::new(sc.clone());
    batch.expect_absent("k").put("x", vec![]);
    assert!(t.store.commit(batch).await.is_err());
    let v2 = t.store.put(&Scope::global(), "g", vec![]).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        Ok(Ok(StoreEvent::Changed { scope, version })) => {
            assert!(scope.is_global());
            assert_eq!(version, v2);
        }
        other => panic!("expected the global change next, got {other:?}"),
    }
}
