//! The records port on DynamoDB Local: conditional writes refuse stale and duplicate writes,
//! transactions are all-or-nothing, batch reads and paging behave at the service's limits.

mod common;

use serde_json::json;
use store::{Condition, Key, PageRequest, Record, Records, StoreError, Write};

fn record(pk: &str, sk: &str, version: u64, data: serde_json::Value) -> Record {
    Record {
        key: Key::new(pk, sk),
        version,
        data,
        expires_at: None,
    }
}

fn create(record: Record) -> Write {
    Write::Put {
        record,
        condition: Condition::Absent,
    }
}

#[tokio::test]
async fn a_created_record_reads_back_with_its_version_and_nested_data() {
    let table = common::fresh_table().await;
    let data = json!({"name": "Ada", "tags": ["a", "b"], "address": {"zip": "02139"}, "n": 42, "none": null});
    table
        .write(vec![create(record("G#acme", "PATIENT#1", 1, data.clone()))])
        .await
        .unwrap();
    let read = table.get(&Key::new("G#acme", "PATIENT#1")).await.unwrap().unwrap();
    assert_eq!((read.version, read.data), (1, data));
    assert_eq!(table.get(&Key::new("G#acme", "PATIENT#2")).await.unwrap(), None);
}

#[tokio::test]
async fn creating_twice_is_refused() {
    let table = common::fresh_table().await;
    table
        .write(vec![create(record("G#acme", "X", 1, json!({"v": 1})))])
        .await
        .unwrap();
    let second = table
        .write(vec![create(record("G#acme", "X", 1, json!({"v": 2})))])
        .await;
    assert_eq!(second, Err(StoreError::AlreadyExists(Key::new("G#acme", "X"))));
    assert_eq!(
        table.get(&Key::new("G#acme", "X")).await.unwrap().unwrap().data,
        json!({"v": 1})
    );
}

#[tokio::test]
async fn a_stale_write_is_refused_and_changes_nothing() {
    let table = common::fresh_table().await;
    table
        .write(vec![create(record("G#acme", "X", 1, json!({"v": 1})))])
        .await
        .unwrap();
    let update = |version: u64, value: i32| Write::Put {
        record: record("G#acme", "X", version + 1, json!({"v": value})),
        condition: Condition::AtVersion(version),
    };
    table.write(vec![update(1, 2)]).await.unwrap();
    let stale = table.write(vec![update(1, 3)]).await;
    assert_eq!(
        stale,
        Err(StoreError::VersionConflict {
            key: Key::new("G#acme", "X"),
            current: 2
        })
    );
    let read = table.get(&Key::new("G#acme", "X")).await.unwrap().unwrap();
    assert_eq!((read.version, read.data), (2, json!({"v": 2})));
}

#[tokio::test]
async fn updating_or_deleting_a_missing_record_says_not_found() {
    let table = common::fresh_table().await;
    let key = Key::new("G#acme", "missing");
    let update = table
        .write(vec![Write::Put {
            record: record("G#acme", "missing", 2, json!({})),
            condition: Condition::AtVersion(1),
        }])
        .await;
    assert_eq!(update, Err(StoreError::NotFound(key.clone())));
    let delete = table
        .write(vec![Write::Delete {
            key: key.clone(),
            condition: Condition::AtVersion(1),
        }])
        .await;
    assert_eq!(delete, Err(StoreError::NotFound(key)));
}

#[tokio::test]
async fn a_transaction_applies_all_or_nothing_and_names_the_refused_write() {
    let table = common::fresh_table().await;
    table
        .write(vec![create(record(
            "G#acme",
            "LINK#elation#42",
            1,
            json!({"id": "p1"}),
        ))])
        .await
        .unwrap();
    let refused = table
        .write(vec![
            create(record("G#acme", "PATIENT#p2", 1, json!({}))),
            create(record("G#acme", "LINK#elation#42", 1, json!({"id": "p2"}))),
        ])
        .await;
    assert_eq!(
        refused,
        Err(StoreError::AlreadyExists(Key::new("G#acme", "LINK#elation#42")))
    );
    assert_eq!(
        table.get(&Key::new("G#acme", "PATIENT#p2")).await.unwrap(),
        None,
        "nothing of a refused transaction is applied"
    );

    let stale = table
        .write(vec![
            Write::Put {
                record: record("G#acme", "LINK#elation#42", 6, json!({})),
                condition: Condition::AtVersion(5),
            },
            create(record("G#acme", "PATIENT#p3", 1, json!({}))),
        ])
        .await;
    assert_eq!(
        stale,
        Err(StoreError::VersionConflict {
            key: Key::new("G#acme", "LINK#elation#42"),
            current: 1
        })
    );
}

#[tokio::test]
async fn a_write_can_depend_on_another_record_staying_as_it_was_read() {
    let table = common::fresh_table().await;
    let other = Key::new("G#acme", "INTEGRATION#hint");
    let check = |condition| Write::Check {
        key: other.clone(),
        condition,
    };
    table
        .write(vec![
            check(Condition::Absent),
            create(record("G#acme", "A", 1, json!({}))),
        ])
        .await
        .unwrap();
    table
        .write(vec![create(record(
            "G#acme",
            "INTEGRATION#hint",
            1,
            json!({"status": "pending"}),
        ))])
        .await
        .unwrap();

    let refused = table
        .write(vec![
            check(Condition::Absent),
            create(record("G#acme", "B", 1, json!({}))),
        ])
        .await;
    assert_eq!(refused, Err(StoreError::AlreadyExists(other.clone())));
    assert_eq!(table.get(&Key::new("G#acme", "B")).await.unwrap(), None);

    let stale = table.write(vec![check(Condition::AtVersion(2))]).await;
    assert_eq!(
        stale,
        Err(StoreError::VersionConflict {
            key: other.clone(),
            current: 1
        })
    );
    table
        .write(vec![
            check(Condition::AtVersion(1)),
            create(record("G#acme", "C", 1, json!({}))),
        ])
        .await
        .unwrap();
    assert_eq!(
        table.get(&other).await.unwrap().unwrap().version,
        1,
        "a check writes nothing"
    );
}

#[tokio::test]
async fn more_writes_than_one_transaction_holds_are_refused_up_front() {
    let table = common::fresh_table().await;
    let writes = (0..101)
        .map(|i| create(record("G#acme", &format!("R#{i}"), 1, json!({}))))
        .collect();
    assert!(matches!(table.write(writes).await, Err(StoreError::Limit { .. })));
    assert_eq!(table.get(&Key::new("G#acme", "R#0")).await.unwrap(), None);
}

#[tokio::test]
async fn batch_reads_cross_the_100_key_limit_and_skip_missing_keys() {
    let table = common::fresh_table().await;
    for chunk in (0..150).collect::<Vec<_>>().chunks(50) {
        let writes = chunk
            .iter()
            .map(|i| create(record("G#acme", &format!("R#{i:03}"), 1, json!({"i": i}))))
            .collect();
        table.write(writes).await.unwrap();
    }
    let mut keys: Vec<Key> = (0..160).map(|i| Key::new("G#acme", format!("R#{i:03}"))).collect();
    keys.push(keys[0].clone());
    let mut found = table.get_many(&keys).await.unwrap();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(found.len(), 150);
    assert_eq!(found[149].data, json!({"i": 149}));
}

#[tokio::test]
async fn queries_page_within_one_partition_and_prefix() {
    let table = common::fresh_table().await;
    let mut writes: Vec<Write> = (0..5)
        .map(|i| create(record("G#acme", &format!("PATIENT#{i}"), 1, json!({}))))
        .collect();
    writes.push(create(record("G#acme", "PRACTITIONER#0", 1, json!({}))));
    writes.push(create(record("G#other", "PATIENT#9", 1, json!({}))));
    table.write(writes).await.unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = table
            .query(
                "G#acme",
                "PATIENT#",
                PageRequest {
                    limit: 2,
                    after,
                    newest_first: false,
                },
            )
            .await
            .unwrap();
        seen.extend(page.records.into_iter().map(|r| r.key.sk));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["PATIENT#0", "PATIENT#1", "PATIENT#2", "PATIENT#3", "PATIENT#4"]);

    let newest = table
        .query(
            "G#acme",
            "PATIENT#",
            PageRequest {
                limit: 2,
                after: None,
                newest_first: true,
            },
        )
        .await
        .unwrap();
    let newest: Vec<String> = newest.records.into_iter().map(|r| r.key.sk).collect();
    assert_eq!(newest, ["PATIENT#4", "PATIENT#3"]);
    let rest = table
        .query(
            "G#acme",
            "PATIENT#",
            PageRequest {
                limit: 10,
                after: Some("PATIENT#3".into()),
                newest_first: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.records.len(), 3, "continues downwards from the cursor");

    let foreign_cursor = PageRequest {
        limit: 2,
        after: Some("PRACTITIONER#0".into()),
        newest_first: false,
    };
    assert_eq!(
        table.query("G#acme", "PATIENT#", foreign_cursor).await,
        Err(StoreError::InvalidCursor)
    );
}

fn add(sk: &str, member: &str) -> Write {
    Write::AddMember {
        key: Key::new("G#acme", sk),
        member: member.into(),
    }
}

fn remove(sk: &str, member: &str) -> Write {
    Write::RemoveMember {
        key: Key::new("G#acme", sk),
        member: member.into(),
    }
}

#[tokio::test]
async fn a_set_record_gains_and_loses_members_without_being_read_first() {
    let table = common::fresh_table().await;
    let key = Key::new("G#acme", "LOOKUP#x");
    table.write(vec![add("LOOKUP#x", "pat_b")]).await.unwrap();
    // A second writer adding another member, and one adding the same member again.
    table.write(vec![add("LOOKUP#x", "pat_a")]).await.unwrap();
    table.write(vec![add("LOOKUP#x", "pat_a")]).await.unwrap();
    let read = table.get(&key).await.unwrap().unwrap();
    assert_eq!(read.data, json!({"members": ["pat_a", "pat_b"]}));
    assert_eq!(read.version, 3, "every change counts");
    table.write(vec![remove("LOOKUP#x", "pat_b")]).await.unwrap();
    table.write(vec![remove("LOOKUP#x", "pat_z")]).await.unwrap();
    assert_eq!(
        table.get(&key).await.unwrap().unwrap().data,
        json!({"members": ["pat_a"]})
    );
    table.write(vec![remove("LOOKUP#x", "pat_a")]).await.unwrap();
    assert_eq!(
        table.get(&key).await.unwrap().unwrap().data,
        json!({}),
        "an empty set reads as none"
    );
    // Batch reads see sets like any record.
    let many = table.get_many(std::slice::from_ref(&key)).await.unwrap();
    assert_eq!(many[0].data, json!({}));
}

#[tokio::test]
async fn set_changes_in_a_refused_transaction_are_not_applied() {
    let table = common::fresh_table().await;
    table
        .write(vec![create(record("G#acme", "PATIENT#1", 1, json!({"email": "a"})))])
        .await
        .unwrap();
    table.write(vec![add("LOOKUP#a", "1")]).await.unwrap();
    // The patient moved on meanwhile: the write of its new e-mail and its keys is refused whole.
    let stale = table
        .write(vec![
            Write::Put {
                record: record("G#acme", "PATIENT#1", 3, json!({"email": "b"})),
                condition: Condition::AtVersion(2),
            },
            remove("LOOKUP#a", "1"),
            add("LOOKUP#b", "1"),
        ])
        .await;
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })), "{stale:?}");
    assert_eq!(
        table.get(&Key::new("G#acme", "LOOKUP#a")).await.unwrap().unwrap().data,
        json!({"members": ["1"]})
    );
    assert_eq!(table.get(&Key::new("G#acme", "LOOKUP#b")).await.unwrap(), None);
}

#[tokio::test]
async fn a_count_moves_by_its_changes_and_a_conditioned_correction_is_refused_when_it_moved() {
    let table = common::fresh_table().await;
    let key = Key::new("G#acme", "COUNT#PATIENT");
    let count = |by: i64, condition: Condition| Write::Count {
        key: key.clone(),
        by,
        condition,
        expires_at: None,
    };
    table.write(vec![count(1, Condition::Always)]).await.unwrap();
    table.write(vec![count(1, Condition::Always)]).await.unwrap();
    table.write(vec![count(-1, Condition::Always)]).await.unwrap();
    let read = table.get(&key).await.unwrap().unwrap();
    assert_eq!((read.version, read.data), (3, json!({"count": 1})));
    // A correction made against version 3 after someone else counted is refused.
    table.write(vec![count(1, Condition::Always)]).await.unwrap();
    let late = table.write(vec![count(10, Condition::AtVersion(3))]).await;
    assert_eq!(
        late,
        Err(StoreError::VersionConflict {
            key: key.clone(),
            current: 4
        })
    );
    table.write(vec![count(10, Condition::AtVersion(4))]).await.unwrap();
    assert_eq!(table.get(&key).await.unwrap().unwrap().data, json!({"count": 12}));
    let fresh = Write::Count {
        key: Key::new("G#acme", "COUNT#NEW"),
        by: 5,
        condition: Condition::Absent,
        expires_at: None,
    };
    table.write(vec![fresh.clone()]).await.unwrap();
    assert!(matches!(
        table.write(vec![fresh]).await,
        Err(StoreError::AlreadyExists(_))
    ));
}

#[tokio::test]
async fn a_count_of_a_passing_slice_carries_when_it_may_be_deleted() {
    let table = common::fresh_table().await;
    let key = Key::new("G#acme", "BUDGET#hint#1");
    let slice = |by: i64| Write::Count {
        key: key.clone(),
        by,
        condition: Condition::VersionBelow(2),
        expires_at: Some(1_900_000_000),
    };
    table.write(vec![slice(1)]).await.unwrap();
    table.write(vec![slice(1)]).await.unwrap();
    let read = table.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (read.version, read.data, read.expires_at),
        (2, json!({"count": 2}), Some(1_900_000_000))
    );
    let full = table.write(vec![slice(1)]).await;
    assert!(
        matches!(full, Err(StoreError::VersionConflict { .. })),
        "a full slice admits no more: {full:?}"
    );
}
