//! Telemetry: the log output, as text for people or JSON for log collectors (`LOG_FORMAT`).
//! Each request's span, with its id, comes from `middleware::request_telemetry`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::configuration::LogFormat;

/// Installs the global log subscriber, writing to `writer` (stdout in the binary, a buffer in
/// tests) in `format`, filtered by `filter` (the `RUST_LOG` syntax, e.g. `info,weatherlog=debug`).
///
/// In [`LogFormat::Json`] every line is one object: `timestamp` (RFC 3339, UTC), `level`,
/// `target`, `message`, the event's own fields, and the fields of the spans it was written in
/// (a request's `request_id`, `method`, `route`), all at the top level so that a query needs
/// no nesting.
///
/// Call it once per process; a second call is ignored, so tests may each try.
pub fn init<W>(filter: &str, format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    match format {
        LogFormat::Text => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(writer)
                .with_target(false)
                // Colour codes help a person at a terminal and clutter `docker compose logs`
                // and files.
                .with_ansi(std::io::stdout().is_terminal())
                .try_init();
        }
        LogFormat::Json => {
            let mut layer = json_subscriber::JsonLayer::new(writer);
            layer
                .with_timer("timestamp", SystemTime)
                .with_level("level")
                .with_target("target")
                .with_flattened_event()
                .with_top_level_flattened_span_list();
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init();
        }
    }
}
