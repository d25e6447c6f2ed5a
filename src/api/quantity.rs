//! Parsing of Kubernetes resource quantities ("101m", "128Mi", "1.5", "2e3") so that validation can
//! reject what the API server would reject and compare requests with limits.

/// The value of a quantity as a number of base units (cores, bytes).
///
/// Floating point is precise enough to compare requests with limits; the operator never writes a
/// quantity it computed, only the ones the user gave.
pub fn parse_quantity(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty; expected a quantity such as \"100m\" or \"128Mi\"".to_owned());
    }
    let (sign, unsigned) = match text.as_bytes()[0] {
        b'-' => (-1.0, &text[1..]),
        b'+' => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    let number_length = unsigned
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_length);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(format!(
            "{text:?} is not a quantity: it must start with a number, e.g. \"100m\" or \"128Mi\""
        ));
    }
    let mantissa: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a quantity: {number:?} is not a number"))?;
    let multiplier = suffix_multiplier(suffix).ok_or_else(|| {
        format!(
            "{text:?} is not a quantity: unknown suffix {suffix:?} (use one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent)"
        )
    })?;
    Ok(sign * mantissa * multiplier)
}

fn suffix_multiplier(suffix: &str) -> Option<f64> {
    let binary = |power: i32| Some(1024f64.powi(power));
    let decimal = |power: i32| Some(10f64.powi(power));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().ok()?;
            decimal(power)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_quantity;

    #[test]
    fn parses_every_suffix_form() {
        assert_eq!(parse_quantity("101m"), Ok(0.101));
        assert_eq!(parse_quantity("128Mi"), Ok(128.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1.5"), Ok(1.5));
        assert_eq!(parse_quantity("2e3"), Ok(2000.0));
        assert_eq!(parse_quantity("1k"), Ok(1000.0));
        assert_eq!(parse_quantity("-1"), Ok(-1.0));
        assert_eq!(parse_quantity(".5"), Ok(0.5));
    }

    #[test]
    fn rejects_malformed_quantities_with_a_reason() {
        for text in ["", "abc", "1.2.3", "12Q", "Mi", "1e", "."] {
            assert!(parse_quantity(text).is_err(), "{text:?} should be rejected");
        }
    }
}
