//! A local stand-in for OpenWeatherMap, for trying the service without a key and for benchmarks.
//!
//! `cargo run --example fake_openweathermap -- [PORT] [DELAY_MS]` answers
//! `GET /data/2.5/weather` on 127.0.0.1:PORT (default 9090) with recorded real answers from
//! tests/fixtures, after DELAY_MS (default 0):
//! - `q=<city>[,CC]` for a recorded metric city (Warsaw, Melbourne, São Paulo, Kochi, Москва, …)
//!   gets that city; `q=bench-…` gets Warsaw (for benchmarks); any other city gets the recorded
//!   404 "city not found";
//! - `lat`/`lon` gets the recorded coordinates answer (Socorro, Lisbon).
//!
//! `GET /calls` answers how many weather requests it has served (for the cold-burst benchmark).
//!
//! Point the service at it with `OPENWEATHER_BASE_URL=http://127.0.0.1:PORT`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openweathermap");
/// The recordings made with `units=metric`, which is what the service asks for.
const METRIC_CITIES: &[&str] = &[
    "belo_horizonte_br_metric.json",
    "curacautin_cl_snow_negative_metric.json",
    "kochi_in_metric_legacy_2014.json",
    "melbourne_au_lang_pt_br.json",
    "moscow_ru_lang_ru_snow.json",
    "sao_paulo_br_lang_pt_br.json",
    "warsaw_pl_heavy_rain.json",
    "warszawa_pl_lang_pl.json",
];

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("the fixture exists")
}

/// Picks a recorded answer by the request's `q` (its name part, lower case) or coordinates.
struct RecordedAnswers {
    by_city: HashMap<String, String>,
    by_coordinates: String,
    not_found: String,
    delay: Duration,
    calls: Arc<AtomicU64>,
}

impl Respond for RecordedAnswers {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let query: HashMap<_, _> = request.url.query_pairs().collect();
        let body = match query.get("q") {
            None => Some(&self.by_coordinates),
            Some(q) => {
                let name = q
                    .split(',')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_lowercase();
                match name.strip_prefix("bench-") {
                    Some(_) => self.by_city.get("warsaw"),
                    None => self.by_city.get(&name),
                }
            }
        };
        let response = match body {
            Some(body) => ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"),
            None => {
                ResponseTemplate::new(404).set_body_raw(self.not_found.clone(), "application/json")
            }
        };
        response.set_delay(self.delay)
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(9090);
    let delay = Duration::from_millis(args.next().and_then(|d| d.parse().ok()).unwrap_or(0));

    let mut by_city = HashMap::new();
    for file in METRIC_CITIES {
        let body = read(&format!("current/{file}"));
        let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
        let name = answer["name"].as_str().expect("a name").to_lowercase();
        by_city.insert(name, body);
    }
    let calls = Arc::new(AtomicU64::new(0));
    let answers = RecordedAnswers {
        by_city,
        by_coordinates: read("current/socorro_pt_metric_by_coords.json"),
        not_found: read("errors/404-city-not-found.json"),
        delay,
        calls: calls.clone(),
    };

    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    // Recording every request would grow without bound under a benchmark.
    let server = MockServer::builder()
        .listener(listener)
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(answers)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/calls"))
        .respond_with(move |_: &Request| {
            ResponseTemplate::new(200).set_body_string(calls.load(Ordering::Relaxed).to_string())
        })
        .mount(&server)
        .await;
    println!("fake OpenWeatherMap on {} (delay {delay:?})", server.uri());
    tokio::signal::ctrl_c().await.expect("wait for Ctrl-C");
}
