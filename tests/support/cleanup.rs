//! Removes what a test stored in a shared MongoDB and Redis, shared by the test binaries
//! (`tests/api` and `tests/compose.rs` include it with `#[path]`).

/// Drops `database` and, when given, deletes the Redis keys matching `redis.1` (a `KEYS`
/// pattern such as `prefix:*`). Runs on a thread of its own with its own runtime, because it
/// is called from `Drop`, while the test's runtime may be shutting down. Failures are ignored:
/// a store that is gone has nothing left to clean.
pub fn remove_test_data(mongodb_uri: String, database: String, redis: Option<(String, String)>) {
    let cleanup = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for cleanup");
        runtime.block_on(async move {
            if let Ok(client) = mongodb::Client::with_uri_str(&mongodb_uri).await {
                let _ = client.database(&database).drop().await;
            }
            let Some((redis_url, pattern)) = redis else {
                return;
            };
            if let Ok(client) = redis::Client::open(redis_url)
                && let Ok(mut redis) = client.get_multiplexed_async_connection().await
            {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut redis)
                    .await
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: redis::RedisResult<()> =
                        redis::cmd("DEL").arg(keys).query_async(&mut redis).await;
                }
            }
        });
    });
    let _ = cleanup.join();
}
