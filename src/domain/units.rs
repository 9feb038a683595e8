//! Units of measurement, and the conversions from the metric values we store.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The unit system of a response, named as OpenWeatherMap names them.
///
/// | units      | temperature | wind speed |
/// |------------|-------------|------------|
/// | `metric`   | °C          | m/s        |
/// | `imperial` | °F          | mph        |
/// | `standard` | K           | m/s        |
///
/// Pressure (hPa), visibility (m) and precipitation (mm) are the same in all three, as upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    #[default]
    Metric,
    Imperial,
    Standard,
}

/// Metres per second in one mile per hour (exact: 1609.344 m / 3600 s).
const METRES_PER_SECOND_PER_MPH: f64 = 0.44704;
/// 0 °C in kelvin (exact, by the definition of the Celsius scale).
const ZERO_CELSIUS_IN_KELVIN: f64 = 273.15;

impl Units {
    /// Converts a temperature from °C into these units, rounded to 2 decimals.
    pub fn temperature_from_celsius(self, celsius: f64) -> f64 {
        round2(match self {
            Units::Metric => celsius,
            Units::Imperial => celsius * 9.0 / 5.0 + 32.0,
            Units::Standard => celsius + ZERO_CELSIUS_IN_KELVIN,
        })
    }

    /// Converts a temperature in these units into °C (for filters such as `min_temp`).
    pub fn temperature_to_celsius(self, value: f64) -> f64 {
        match self {
            Units::Metric => value,
            Units::Imperial => (value - 32.0) * 5.0 / 9.0,
            Units::Standard => value - ZERO_CELSIUS_IN_KELVIN,
        }
    }

    /// Converts a speed from m/s into these units, rounded to 2 decimals.
    pub fn speed_from_metres_per_second(self, speed: f64) -> f64 {
        round2(match self {
            Units::Metric | Units::Standard => speed,
            Units::Imperial => speed / METRES_PER_SECOND_PER_MPH,
        })
    }
}

/// Rounds to 2 decimals, so conversions do not print as `59.000000000001`.
fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freezing_point_in_each_unit_system() {
        assert_eq!(Units::Metric.temperature_from_celsius(0.0), 0.0);
        assert_eq!(Units::Imperial.temperature_from_celsius(0.0), 32.0);
        assert_eq!(Units::Standard.temperature_from_celsius(0.0), 273.15);
    }

    #[test]
    fn temperature_conversions_round_trip() {
        for units in [Units::Metric, Units::Imperial, Units::Standard] {
            let back = units.temperature_to_celsius(units.temperature_from_celsius(21.5));
            assert!((back - 21.5).abs() < 0.01, "{units:?}: {back}");
        }
    }

    #[test]
    fn ten_metres_per_second_is_about_22_mph() {
        assert_eq!(Units::Imperial.speed_from_metres_per_second(10.0), 22.37);
        assert_eq!(Units::Standard.speed_from_metres_per_second(10.0), 10.0);
    }
}
