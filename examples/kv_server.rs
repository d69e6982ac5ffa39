//! A Redis-protocol (RESP2) key-value server: one green thread per connection, the store
//! owned by one green thread (`--store owner`) or sharded behind `RwLock`s (`--store
//! shared`, the default). The code is in `examples/servers/src/kv/`.
//!
//! ```text
//! cargo run --release --example kv_server                        # 127.0.0.1:6380, shared store
//! cargo run --release --example kv_server -- --store owner --addr 127.0.0.1:0
//! redis-cli -p 6380 set greeting hello ex 60 && redis-cli -p 6380 get greeting
//! redis-benchmark -p 6380 -t set,get,incr -n 100000 -q
//! ```

fn main() {
    goro_servers::kv::main()
}
