//! Release order: a key that sorts releases as versions when they are semantic versions
//! (`1.4.0`, `v1.4.0`, `shop@1.4.0-rc.1`), so that "resolved in 1.4.0" can tell an older
//! release from a newer one with a text comparison in SQL. Releases that are not versions have
//! no key; they are ordered by when each was first seen. Pure.

/// `00000000001.00000000004.00000000000~` for `1.4.0`; a pre-release sorts before its release
/// (`…-rc.1` < `…~`). `None` for anything that is not `major.minor[.patch][-pre][+build]`.
pub fn release_key(release: &str) -> Option<String> {
    let version = release.rsplit_once('@').map_or(release, |(_, v)| v);
    let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
    let version = version.split('+').next().unwrap_or(version);
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) if !pre.is_empty() => (core, Some(pre)),
        Some(_) => return None,
        None => (version, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut numbers = [0u64; 3];
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || part.len() > 10 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        numbers[i] = part.parse().ok()?;
    }
    let [major, minor, patch] = numbers;
    Some(match pre {
        // Numeric pre-release parts compare as numbers: zero-padded.
        Some(pre) => format!(
            "{major:011}.{minor:011}.{patch:011}-{}",
            pre.split('.')
                .map(
                    |p| if p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 10 {
                        format!("{p:0>10}")
                    } else {
                        p.to_string()
                    }
                )
                .collect::<Vec<_>>()
                .join(".")
        ),
        None => format!("{major:011}.{minor:011}.{patch:011}~"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_versions() {
        let ordered = [
            "1.3.9",
            "1.4.0-rc.1",
            "1.4.0-rc.2",
            "1.4.0-rc.10",
            "v1.4.0",
            "shop@1.4.1",
            "1.10.0",
            "2.0",
        ];
        let keys: Vec<String> = ordered.iter().map(|r| release_key(r).unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(release_key("1.4.0"), release_key("shop@v1.4.0+build.7"));
        for not_semver in [
            "abc123",
            "2026-12-04",
            "1",
            "1.2.3.4",
            "1..2",
            "1.2.x",
            "1.2.3-",
            "",
        ] {
            assert_eq!(release_key(not_semver), None, "{not_semver}");
        }
    }
}
