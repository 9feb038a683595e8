//! The ceiling a cached lookup is measured against (`scripts/bench`): actix-web answering a
//! weather-sized JSON body from memory, with nothing else in the way. No stores, no
//! middleware, no cache lookup: the `Weather` value is made once and serialized per request,
//! as a cached answer is.
//!
//! `cargo run --release --example ceiling -- [PORT]` listens on 127.0.0.1:PORT (default 9091)
//! and answers `GET /` with the Warsaw answer the README shows.

use actix_web::{App, HttpResponse, HttpServer, web};
use weatherlog::domain::Weather;

/// A real answer of the service (the README's Warsaw lookup), without its `cache` object.
const WARSAW: &str = r#"{"location":{"name":"Warsaw","country":"PL","lat":52.2299,"lon":21.0093},
 "observed_at":"2026-06-05T17:21:30Z","units":"metric",
 "temperature":{"current":17.03,"feels_like":16.93,"min":16.47,"max":17.74},
 "humidity_pct":82,"pressure_hpa":1011.0,"wind":{"speed":6.26,"direction_deg":283.0,"gust":8.73},
 "clouds_pct":98,"visibility_m":10000,"rain_1h_mm":8.24,"snow_1h_mm":null,
 "conditions":[{"main":"Rain","description":"heavy intensity rain","icon":"10d"}],
 "sunrise":"2026-06-05T02:18:04Z","sunset":"2026-06-05T18:51:05Z","timezone_offset_s":7200,
 "provider":"openweathermap","fetched_at":"2026-11-30T09:13:25.261Z"}"#;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|port| port.parse().ok())
        .unwrap_or(9091);
    let weather: Weather = serde_json::from_str(WARSAW).expect("the sample is a Weather");
    let weather = web::Data::new(weather);
    println!("ceiling on http://127.0.0.1:{port}/");
    HttpServer::new(move || {
        App::new().app_data(weather.clone()).route(
            "/",
            web::get().to(|weather: web::Data<Weather>| async move {
                HttpResponse::Ok().json(weather.get_ref())
            }),
        )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
