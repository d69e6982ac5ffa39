//! `goro::Spawn`: per-green-thread name and stack size.

use std::time::Duration;

mod common;
use common::{child_command, is_child};

#[test]
fn a_name_shows_in_dump() {
    goro::run(|| {
        let (tx, rx) = goro::chan::bounded::<()>(0);
        let h = goro::Spawn::new()
            .name("parser")
            .go(move || rx.recv().is_err());
        goro::sleep(Duration::from_millis(20));
        let d = goro::dump();
        assert!(d.contains("\"parser\" [chan receive"), "{d}");
        drop(tx);
        assert!(h.join().unwrap());
    });
}

#[test]
fn a_stack_size_of_its_own() {
    fn deep(n: u32) -> u32 {
        let pad = std::hint::black_box([0u8; 1024]);
        if n == 0 {
            pad[0] as u32
        } else {
            1 + deep(n - 1)
        }
    }
    goro::run(|| {
        // ~2 MiB of frames: far past the default 256 KiB, fine in 8 MiB.
        let h = goro::Spawn::new().stack_size(8 << 20).go(|| deep(2000));
        assert_eq!(h.join().unwrap(), 2000);
        // Such green threads are not pooled with the runtime's: many in a row work.
        let hs: Vec<_> = (0..200)
            .map(|_| goro::Spawn::new().stack_size(1 << 20).go(|| deep(300)))
            .collect();
        assert!(hs.into_iter().all(|h| h.join().unwrap() == 300));
        // And plain ones still get the runtime's size.
        assert!(goro::go(|| goro::stack::remaining().unwrap() < 256 * 1024)
            .join()
            .unwrap());
    });
}

#[test]
fn an_invalid_stack_size_is_an_error() {
    goro::run(|| {
        let e = goro::Spawn::new()
            .stack_size(1024)
            .try_go(|| ())
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("Spawn::stack_size"), "{e}");
    });
}

#[test]
fn a_named_green_thread_is_named_when_it_panics_and_when_it_overflows() {
    const NAME: &str = "a_named_green_thread_is_named_when_it_panics_and_when_it_overflows";
    if is_child(NAME) {
        goro::run(|| {
            let h = goro::Spawn::new().name("loader").go(|| panic!("boom"));
            assert!(h.join().is_err());
            let unnamed = goro::go(|| panic!("bang"));
            assert!(unnamed.join().is_err());
            #[allow(unconditional_recursion)]
            fn unbounded(n: u64) -> u64 {
                let pad = std::hint::black_box([n as u8; 512]);
                unbounded(n + 1) + pad[1] as u64
            }
            let _ = goro::Spawn::new()
                .name("recurser")
                .stack_size(64 * 1024)
                .go(|| unbounded(0))
                .join();
        });
        unreachable!();
    }
    let out = child_command(NAME).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"loader\" panicked (spawned at tests/spawn_options.rs:"),
        "{stderr}"
    );
    // Unnamed ones are named by id and spawn site too (std names only the worker thread).
    let unnamed = stderr.lines().any(|l| {
        l.starts_with("goro: green thread ")
            && !l.contains('"')
            && l.contains(" panicked (spawned at tests/spawn_options.rs:")
    });
    assert!(unnamed, "{stderr}");
    assert!(stderr.contains("\"recurser\""), "{stderr}");
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
    assert!(stderr.contains("64 KiB"), "{stderr}");
}
