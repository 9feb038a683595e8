//! Telemetry: structured logs with `tracing`, one span per request (see `startup.rs`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global log subscriber, writing to `writer` (stdout in the binary, a buffer in
/// tests) and filtered by `filter` (the `RUST_LOG` syntax, e.g. `info,weatherlog=debug`).
///
/// Call it once per process; a second call is ignored, so tests may each try.
pub fn init<W>(filter: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        // Colour codes help a person at a terminal and clutter `docker compose logs` and files.
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}
