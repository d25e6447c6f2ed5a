//! `INFO keyspace`: how many keys a server holds over all its databases. DBSIZE counts only the
//! database a connection selected (0), so keys written to another database would be invisible to
//! every guard that refuses to erase a server holding data.
//!
//! Pure and total like every reply parser: no I/O, no panic on any input. The renderer writes
//! what Redis 7 prints for a server whose keys are all in database 0, and is compiled only for
//! tests and the `testing` feature.

use super::{INFO_KEYSPACE, ParseError, info_lines, invalid, parse_number};

/// The keys of every database listed (`dbN:keys=K,expires=E,avg_ttl=T`); an empty keyspace (no
/// `dbN` line, as Redis prints when it holds no key) is zero.
pub fn parse_keyspace_keys(text: &str) -> Result<u64, ParseError> {
    let mut total: u64 = 0;
    for line in info_lines(INFO_KEYSPACE, text)? {
        let Some(index) = line.key.strip_prefix("db") else {
            continue;
        };
        if index.is_empty() || !index.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let keys = line
            .value
            .split(',')
            .find_map(|pair| pair.strip_prefix("keys="))
            .ok_or_else(|| {
                invalid(
                    INFO_KEYSPACE,
                    line.location,
                    line.key,
                    line.value,
                    "keys=K,expires=E,avg_ttl=T",
                )
            })?;
        let keys: u64 = parse_number(INFO_KEYSPACE, line.location, line.key, keys)?;
        total = total.saturating_add(keys);
    }
    Ok(total)
}

/// `INFO keyspace` of a server holding `keys[n]` keys in database `n`: a line per database that
/// holds some, as Redis lists only those.
#[cfg(any(test, feature = "testing"))]
pub fn render_keyspace(keys: &[u64]) -> String {
    let mut text = "# Keyspace\r\n".to_owned();
    for (database, count) in keys.iter().enumerate() {
        if *count > 0 {
            text.push_str(&format!(
                "db{database}:keys={count},expires=0,avg_ttl=0\r\n"
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_database_are_counted() {
        let text =
            "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=10\r\ndb7:keys=4,expires=0,avg_ttl=0\r\n";
        assert_eq!(parse_keyspace_keys(text), Ok(7));
    }

    #[test]
    fn a_rendered_keyspace_reads_back() {
        for keys in [0, 1, 12_345] {
            assert_eq!(parse_keyspace_keys(&render_keyspace(&[keys])), Ok(keys));
        }
    }

    #[test]
    fn an_empty_keyspace_holds_no_keys() {
        assert_eq!(parse_keyspace_keys("# Keyspace\r\n"), Ok(0));
        assert_eq!(parse_keyspace_keys(""), Ok(0));
    }

    #[test]
    fn a_database_line_without_a_key_count_is_an_error_naming_it() {
        let error = parse_keyspace_keys("db2:expires=1\r\n").unwrap_err();
        assert!(error.to_string().contains("db2"), "{error}");
        let error = parse_keyspace_keys("db0:keys=many,expires=0\r\n").unwrap_err();
        assert!(error.to_string().contains("db0"), "{error}");
    }
}
