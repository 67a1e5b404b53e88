//! `opensmev store copy` end to end: a populated embedded store (messages in every state, a
//! large attachment in a file, journals, notices, registry versions, tokens, accounts, audit) is
//! copied into a fresh PostgreSQL database by the real binary, compared record by record with
//! the source, and copied back into a second embedded store; `opensmev store fingerprint` gives
//! the same prints for all three. Also: a non-empty target is refused and nothing is written.
//!
//! Needs PostgreSQL: `OSMV_TEST_POSTGRES` (what `scripts/postgres-setup.sh` prints; the
//! key=value or the URL form; unset, the local socket as `postgres`) names a role that may
//! create databases. CI sets it up; an unreachable server fails the test.

use std::process::Command;
use std::sync::Arc;

use opensmev_store::conformance::{at, full_request, mid, request, response};
use opensmev_store::{
    Account, Attachment, Blob, Enqueued, LeaseRequest, NewAuditEntry, Store, TokenRecord,
};
use opensmev_store_postgres::{PgOptions, PostgresStore};
use opensmev_store_sqlite::SqliteStore;
use opensmev_testkit::postgres::{Database, admin_config, database};
use opensmev_types::{InteractionStatus, MessageKind, Mnemonic, Role};
use time::Duration;

fn mnemonic(text: &str) -> Mnemonic {
    Mnemonic::parse(text).expect("mnemonic")
}

fn audit(actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: at(50),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: "подробности".to_owned(),
    }
}

/// Fills an embedded store with a bit of everything.
async fn populate(store: &dyn Store, scratch: &std::path::Path) {
    let mut big = full_request(1);
    let file = scratch.join("big.bin");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    big.attachments.push(Attachment {
        content_id: "файл".to_owned(),
        mime_type: "application/octet-stream".to_owned(),
        data: Blob::File {
            path: file,
            len: bytes.len() as u64,
        },
    });
    let quota = 1_000_000;
    let put = |m| store.enqueue(m, InteractionStatus::RequestIsQueued, quota);
    assert!(matches!(put(big).await.unwrap(), Enqueued::Accepted { .. }));
    for n in 2..=40 {
        let mut m = request(n, "MFC01", "PFR01");
        m.eol = (n % 7 == 0).then(|| at(5));
        assert!(matches!(put(m).await.unwrap(), Enqueued::Accepted { .. }));
    }
    for n in 2..=10 {
        let answer = response(100 + n, "PFR01", "MFC01", Some(n));
        store
            .enqueue_response(
                answer,
                InteractionStatus::ResponseIsQueued,
                quota,
                InteractionStatus::ResponseIsQueued,
            )
            .await
            .unwrap();
    }
    // Deliveries: some acknowledged, some refused, some leased; expiry on the way.
    for i in 0..12 {
        let leased = store
            .lease_next(LeaseRequest {
                recipient: mnemonic("PFR01"),
                kind: MessageKind::Request,
                message_type: None,
                node_id: None,
                lease: Duration::seconds(60),
                now: at(10 + i),
                push: false,
                fair_first: false,
            })
            .await
            .unwrap()
            .expect("a message to lease");
        if i % 3 != 2 {
            let rule = |_, accepted: bool| {
                if accepted {
                    (InteractionStatus::MessageIsDelivered, None)
                } else {
                    (InteractionStatus::Cancelled, Some("отклонено"))
                }
            };
            store
                .ack(
                    &mnemonic("PFR01"),
                    &leased.message.id,
                    i % 4 != 3,
                    rule,
                    at(30 + i),
                )
                .await
                .unwrap();
        }
    }
    store
        .set_status(
            &mid(20),
            InteractionStatus::RequestIsQueued,
            Some("статус".into()),
            at(40),
        )
        .await
        .unwrap();
    for (version, text) in [(None, "# v1\n"), (Some(1), "# v2\n"), (Some(2), "# v3\n")] {
        store
            .save_registry(
                text.into(),
                version,
                false,
                at(41),
                Some(audit("admin", "registry.save", "r")),
            )
            .await
            .unwrap();
    }
    for (n, id) in [(1u8, "tok_one"), (2, "tok_two")] {
        store
            .create_token(
                TokenRecord {
                    id: id.to_owned(),
                    secret_hash: [n; 32],
                    name: format!("токен {n}"),
                    role: Role::Is,
                    system: Some(mnemonic("MFC01")),
                    account: None,
                    created_by: "admin".to_owned(),
                    created_at: at(42 + i64::from(n)),
                    expires_at: Some(at(100_000)),
                    revoked_at: None,
                },
                audit("admin", "token.create", id),
            )
            .await
            .unwrap();
    }
    store
        .create_account(
            Account {
                login: "оператор".to_owned(),
                name: "Оператор".to_owned(),
                role: Role::Operator,
                system: None,
                password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
                must_change_password: true,
                disabled: false,
                created_at: at(45),
            },
            audit("admin", "account.create", "оператор"),
        )
        .await
        .unwrap();
}

fn opensmev(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_opensmev"))
        .args(["--lang", "en"])
        .args(args)
        .env_remove("OPENSMEV_STORE")
        .output()
        .expect("run opensmev");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn all_messages(store: &dyn Store) -> Vec<opensmev_store::Record> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = store
            .export(opensmev_store::Section::Messages, after, 50)
            .await
            .unwrap();
        let Some(opensmev_store::Record::Message(last)) = batch.last() else {
            return out;
        };
        after = last.stored.seq;
        out.extend(batch);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_populated_embedded_store_moves_to_postgres_and_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (source_dir, back_dir) = (dir.path().join("source"), dir.path().join("back"));
    {
        let store = SqliteStore::open_on_node(&source_dir, Some("узел-1")).unwrap();
        populate(&store, dir.path()).await;
    }
    let db = Database(format!("osmv_copy_{}", std::process::id()));
    let url = database(&db.0).await;
    let config = admin_config();
    let source = format!("sqlite:{}", source_dir.display());

    let (code, stdout, stderr) = opensmev(&["store", "copy", "--from", &source, "--to", &url]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("The copy matches its source"), "{stdout}");
    for line in stdout.lines().skip(1).take(7) {
        assert!(line.ends_with(" ="), "{line}");
    }
    assert!(
        stdout.contains("messages           49         49"),
        "{stdout}"
    );
    if let Some(password) = config.get_password() {
        let shown = format!(":{}@", String::from_utf8_lossy(password));
        assert!(!stdout.contains(&shown), "no password shown: {stdout}");
        assert!(stdout.contains(":***@"), "the password masked: {stdout}");
    }

    // Record by record: the same messages (bodies, attachments' bytes, states), journals and
    // registry on both sides.
    let sqlite = SqliteStore::open(&source_dir).unwrap();
    let pg = PostgresStore::connect(
        &url,
        PgOptions {
            node: None,
            pool_size: 2,
            migrate: false,
            cache_dir: dir.path().join("cache"),
        },
    )
    .await
    .unwrap();
    let (from, to) = (all_messages(&sqlite).await, all_messages(&pg).await);
    assert_eq!(from.len(), 49);
    assert_eq!(from.len(), to.len());
    for (a, b) in from.iter().zip(&to) {
        let (opensmev_store::Record::Message(a), opensmev_store::Record::Message(b)) = (a, b)
        else {
            unreachable!()
        };
        assert_eq!(a.journal, b.journal, "journal of {}", a.stored.message.id);
        assert_eq!(a.stored.message.sender_data, b.stored.message.sender_data);
        assert_eq!(a.stored.state, b.stored.state);
        assert_eq!(a.stored.status, b.stored.status);
        assert_eq!(a.stored.seq, b.stored.seq);
        let bytes = |m: &opensmev_store::MessageRecord| -> Vec<Vec<u8>> {
            m.stored
                .message
                .attachments
                .iter()
                .map(|x| x.data.to_vec().unwrap())
                .collect()
        };
        assert_eq!(bytes(a), bytes(b), "attachments of {}", a.stored.message.id);
    }
    for version in 1..=3 {
        assert_eq!(
            sqlite.registry_version(version).await.unwrap(),
            pg.registry_version(version).await.unwrap()
        );
    }
    drop(pg);
    drop(sqlite);

    // And back into a second embedded store.
    let back = format!("sqlite:{}", back_dir.display());
    let (code, stdout, stderr) = opensmev(&["store", "copy", "--from", &url, "--to", &back]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let prints: Vec<String> = [&source, &url, &back]
        .iter()
        .map(|location| {
            let (code, stdout, stderr) = opensmev(&["store", "fingerprint", location]);
            assert_eq!(code, 0, "{stderr}");
            stdout
        })
        .collect();
    assert_eq!(prints[0], prints[1]);
    assert_eq!(prints[0], prints[2]);
    assert!(prints[0].contains("journal"), "{}", prints[0]);

    // A second copy into the now populated database is refused, changing nothing.
    let (code, _, stderr) = opensmev(&["store", "copy", "--from", &source, "--to", &url]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not empty"), "{stderr}");
    let (_, after, _) = opensmev(&["store", "fingerprint", &url]);
    assert_eq!(after, prints[1]);
    let _ = Arc::new(());
}
