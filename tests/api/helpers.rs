//! `TestApp`: the real application on a free port, with its own database, Redis key prefix
//! and fake upstream, cleaned up when the test ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use weatherlog::configuration::Settings;
use weatherlog::startup::Application;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "../support/cleanup.rs"]
mod cleanup;
#[path = "../support/tcp_proxy.rs"]
mod tcp_proxy;
pub use tcp_proxy::TcpProxy;

/// The API key the tests configure; it must never show up in a response or a log line.
pub const TEST_API_KEY: &str = "test-key-9f8e7d6c5b4a-DO-NOT-LEAK";
/// Where OpenWeatherMap's current-weather endpoint lives.
pub const UPSTREAM_PATH: &str = "/data/2.5/weather";

/// One running application and everything it talks to.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    /// The fake OpenWeatherMap (shared by the replicas of [`spawn_replicas`]).
    pub upstream: Arc<MockServer>,
    pub settings: Settings,
    pub database: mongodb::Database,
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test, which starts MongoDB and Redis")
    })
}

/// Collects every log line written, for inspection: pass it to `weatherlog::telemetry::init`
/// before the app starts (the first init in a test's process wins).
#[derive(Clone, Default)]
pub struct CapturedLogs(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Settings for a test: a fresh database and key prefix, the fake upstream, port 0, and no rate
/// limit (every test comes from 127.0.0.1; `tests/api/rate_limit.rs` turns it on).
pub fn test_settings(upstream: &MockServer) -> Settings {
    let id = uuid::Uuid::new_v4().simple().to_string();
    Settings {
        host: [127, 0, 0, 1].into(),
        port: 0,
        mongodb_uri: required_env("MONGODB_URI"),
        mongodb_database: format!("weatherlog_test_{id}"),
        mongodb_startup_timeout_seconds: 10,
        redis_url: required_env("REDIS_URL").as_str().into(),
        redis_key_prefix: format!("weatherlog-test-{id}"),
        openweather_api_key: Some(SecretString::from(TEST_API_KEY)),
        openweather_base_url: upstream.uri(),
        openweather_timeout_ms: 1000,
        cache_ttl_seconds: 300,
        not_found_ttl_seconds: 60,
        request_timeout_seconds: 30,
        rate_limit_per_minute: 0,
        rust_log: "info".into(),
        ..Settings::default()
    }
}

/// Starts the application with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// With `TEST_LOG` set (`TEST_LOG=1 scripts/test cache:: --no-capture`), the service's logs go to
/// the test's output, filtered by `RUST_LOG` (default `info,weatherlog=debug`); without it the
/// tests are quiet. cargo-nextest runs each test in its own process, so each starts its own.
fn print_logs_if_asked() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info,weatherlog=debug".into());
    // TestWriter prints through the test harness, which shows it for failing tests (or always,
    // with --no-capture).
    weatherlog::telemetry::init(
        &filter,
        weatherlog::configuration::LogFormat::Text,
        tracing_subscriber::fmt::TestWriter::new,
    );
}

/// Starts the application after `customize` has adjusted its settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    print_logs_if_asked();
    let upstream = Arc::new(MockServer::start().await);
    let mut settings = test_settings(&upstream);
    customize(&mut settings);
    start(settings, upstream).await
}

/// An app whose MongoDB connection runs through a [`TcpProxy`], so a test can cut it
/// (`proxy.cut()`) as if MongoDB went down, and restore it.
pub async fn spawn_app_behind_a_mongodb_proxy() -> (TestApp, TcpProxy) {
    let mongodb = socket_address(&std::env::var("MONGODB_URI").unwrap());
    let proxy = TcpProxy::start(mongodb).await;
    let address = proxy.address;
    let app = spawn_app_with(|settings| {
        settings.mongodb_uri = format!("mongodb://{address}/?directConnection=true");
    })
    .await;
    (app, proxy)
}

/// Starts `count` instances of the application on one MongoDB database, one Redis key prefix
/// and one fake upstream, as replicas behind a load balancer would run.
pub async fn spawn_replicas(count: usize, customize: impl FnOnce(&mut Settings)) -> Vec<TestApp> {
    print_logs_if_asked();
    let upstream = Arc::new(MockServer::start().await);
    let mut settings = test_settings(&upstream);
    customize(&mut settings);
    let mut replicas = Vec::with_capacity(count);
    for _ in 0..count {
        replicas.push(start(settings.clone(), upstream.clone()).await);
    }
    replicas
}

/// Like [`spawn_replicas`], but all start at the same moment, as after a deploy: they race to
/// create what the first start creates (the cursor signing key).
pub async fn spawn_replicas_at_once(count: usize) -> Vec<TestApp> {
    print_logs_if_asked();
    let upstream = Arc::new(MockServer::start().await);
    let settings = test_settings(&upstream);
    let starts = (0..count).map(|_| start(settings.clone(), upstream.clone()));
    futures_util::future::join_all(starts).await
}

async fn start(settings: Settings, upstream: Arc<MockServer>) -> TestApp {
    let application = Application::build(&settings)
        .await
        .expect("the application starts");
    let port = application.port();
    tokio::spawn(application.run_until_stopped());
    let client = mongodb::Client::with_uri_str(&settings.mongodb_uri)
        .await
        .expect("a MongoDB client for the test");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        upstream,
        database: client.database(&settings.mongodb_database),
        settings,
    }
}

/// A recorded OpenWeatherMap body from `tests/fixtures/openweathermap/`.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/openweathermap/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("fixture {path} exists"))
}

/// A 200 answer with a recorded body.
pub fn recorded(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

impl TestApp {
    /// The fake upstream answers a `q=` query with a recorded body.
    pub async fn upstream_serves_city(&self, q: &str, fixture_name: &str) {
        Mock::given(method("GET"))
            .and(path(UPSTREAM_PATH))
            .and(query_param("q", q))
            .respond_with(recorded(fixture_name))
            .mount(&self.upstream)
            .await;
    }

    /// The fake upstream answers every request with `response`.
    pub async fn upstream_always(&self, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(UPSTREAM_PATH))
            .respond_with(response)
            .mount(&self.upstream)
            .await;
    }

    /// How many requests reached the fake upstream.
    pub async fn upstream_calls(&self) -> usize {
        self.upstream
            .received_requests()
            .await
            .map_or(0, |requests| requests.len())
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path_and_query}", self.address))
            .send()
            .await
            .expect("the request is sent")
    }

    /// `GET /api/v1/weather?city=…`
    pub async fn get_weather(&self, city: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/api/v1/weather", self.address))
            .query(&[("city", city)])
            .send()
            .await
            .expect("the request is sent")
    }

    /// `POST /api/v1/logs` with a JSON body.
    pub async fn post_log(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/logs", self.address))
            .json(&body)
            .send()
            .await
            .expect("the request is sent")
    }

    /// Creates a log for `city` and returns its JSON (the upstream must serve the city).
    pub async fn create_log(&self, city: &str) -> Value {
        let response = self.post_log(serde_json::json!({ "city": city })).await;
        assert_eq!(response.status(), 201, "creating a log for {city}");
        response.json().await.expect("a JSON log")
    }

    pub async fn patch_log(&self, id: &str, body: Value) -> reqwest::Response {
        self.http
            .patch(format!("{}/api/v1/logs/{id}", self.address))
            .json(&body)
            .send()
            .await
            .expect("the request is sent")
    }

    pub async fn delete_log(&self, id: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}/api/v1/logs/{id}", self.address))
            .send()
            .await
            .expect("the request is sent")
    }

    /// How many logs the database holds.
    pub async fn stored_logs(&self) -> u64 {
        self.database
            .collection::<mongodb::bson::Document>("logs")
            .count_documents(mongodb::bson::doc! {})
            .await
            .expect("count logs")
    }

    /// Ends a pause that an upstream 429 or 401 started, as if its time had passed.
    pub async fn end_upstream_pause(&self) {
        let key = format!("{}:v1:upstream:pause", self.settings.redis_key_prefix);
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut self.redis().await)
            .await
            .expect("Redis answers");
    }

    /// A Redis connection for looking at keys directly.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.settings.redis_url.expose())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }
}

/// Asserts a problem+json answer with `status`, and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "content type");
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], status, "status member: {body}");
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "{member} missing in {body}");
    }
    body
}

impl Drop for TestApp {
    /// Drops the test's database and Redis keys, so a shared MongoDB or Redis is left clean.
    fn drop(&mut self) {
        // The real server, not a test's proxy: a proxy's tasks cannot run while this blocks.
        let uri =
            std::env::var("MONGODB_URI").unwrap_or_else(|_| self.settings.mongodb_uri.clone());
        let redis = (
            self.settings.redis_url.expose().to_owned(),
            format!("{}:*", self.settings.redis_key_prefix),
        );
        cleanup::remove_test_data(uri, self.settings.mongodb_database.clone(), Some(redis));
    }
}

/// Host and port of a `mongodb://` or `redis://` URL (without credentials or options).
pub fn socket_address(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).expect("a scheme");
    let rest = rest.rsplit('@').next().expect("a host");
    let host_port = rest.split(['/', '?']).next().expect("a host and port");
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().expect("host:port")
}

/// Waits until `check` is true, polling for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
