//! An HTTP/1.1 server with one green thread per connection, the shape of Go's `net/http`:
//! keep-alive, pipelining, chunked request bodies, timeouts and a connection limit. The
//! code is in `examples/servers/src/http/`.
//!
//! ```text
//! cargo run --release --example http_server                    # 127.0.0.1:8080
//! cargo run --release --example http_server -- --addr 127.0.0.1:0 --max-conns 1000
//! curl -i http://127.0.0.1:8080/ ; curl http://127.0.0.1:8080/json
//! wrk -t2 -c64 -d8s http://127.0.0.1:8080/
//! ```

fn main() {
    goro_servers::http::main()
}
