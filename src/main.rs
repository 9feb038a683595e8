//! The binary: `weatherlog [serve]` runs the server; `weatherlog healthcheck` checks it.

use std::process::ExitCode;

use weatherlog::configuration::Settings;
use weatherlog::startup::Application;
use weatherlog::{healthcheck, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("weatherlog: {err}");
            return ExitCode::from(2);
        }
    };
    match command.as_deref() {
        None | Some("serve") => serve(settings).await,
        Some("healthcheck") => {
            if healthcheck::check(&settings).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some(other) => {
            eprintln!("weatherlog: unknown command {other:?}; use `serve` or `healthcheck`");
            ExitCode::from(2)
        }
    }
}

async fn serve(settings: Settings) -> ExitCode {
    telemetry::init(&settings.rust_log, settings.log_format, std::io::stdout);
    let application = match Application::build(&settings).await {
        Ok(application) => application,
        Err(err) => {
            tracing::error!("start-up failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(port = application.port(), "weatherlog is listening");
    match application.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("server failed: {err}");
            ExitCode::FAILURE
        }
    }
}
