//! Concurrency: one `SchemaSet` shared by four threads; each thread compiles each set once and
//! then reuses its own compiled schema.

mod common;

use std::sync::{Arc, Barrier};

use common::{biz_document, biz_files, body_element};
use opensmev_schema::{
    SchemaSet, cached_on_this_thread, compiles_on_this_thread, validate_official,
};

#[test]
fn four_threads_validate_concurrently_with_one_compile_each() {
    let set = SchemaSet::new(biz_files(), "root.xsd").unwrap();
    let good = biz_document();
    let bad = good.replacen("<Gender>Male</Gender>", "<Gender>male</Gender>", 1);
    let official = body_element("smev3sharp-1.2/GetResponseResponce_InvalidContent.xml");
    let barrier = Arc::new(Barrier::new(4));

    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (set, good, bad, official, barrier) = (
                set.clone(),
                good.clone(),
                bad.clone(),
                official.clone(),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                let before = compiles_on_this_thread();
                assert_eq!(before, 0, "a fresh thread has compiled nothing");
                barrier.wait();
                for i in 0..300 {
                    set.validate(&good).unwrap();
                    let issues = set.validate(&bad).unwrap_err();
                    assert!(
                        issues[0]
                            .message
                            .contains("'male' is not an element of the set"),
                        "{issues:#?}"
                    );
                    if i % 10 == 0 {
                        validate_official("1.2", &official).unwrap();
                    }
                }
                (compiles_on_this_thread() - before, cached_on_this_thread())
            })
        })
        .collect();
    for handle in handles {
        let (compiles, cached) = handle.join().unwrap();
        // One for the business set, one for the official 1.2 set (whichever thread initialised
        // the official set compiled it in its constructor, which also fills that thread's cache).
        assert_eq!(compiles, 2);
        assert_eq!(cached, 2);
    }
}
