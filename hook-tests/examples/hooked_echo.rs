//! A small program built with the `hook` feature: std::net echo between green threads,
//! std::thread::sleep, every byte checked. CI runs it under valgrind.

use std::io::{Read, Write};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let total = goro::run(move || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        goro::go(move || {
            for _ in 0..n {
                let (mut s, _) = listener.accept().unwrap();
                goro::go(move || {
                    let mut buf = [0u8; 32];
                    while let Ok(k) = s.read(&mut buf) {
                        if k == 0 || s.write_all(&buf[..k]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let clients: Vec<_> = (0..n)
            .map(|i| {
                goro::go(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    let mut sum = 0usize;
                    for round in 0..20u8 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        let msg = [round ^ i as u8; 32];
                        s.write_all(&msg).unwrap();
                        let mut back = [0u8; 32];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg);
                        sum += 32;
                    }
                    sum
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(total, n * 20 * 32);
    println!("hooked echo: {total} bytes echoed");
}
