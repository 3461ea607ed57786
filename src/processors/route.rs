//! Route templates: the variable segments of an endpoint replaced by placeholders, so that
//! `/api/users/42` and `/api/users/7` group and filter as one route, `/api/users/:id`.

/// Templates an endpoint as sent: a path or a full URL; query string and fragment are dropped.
pub fn route_template(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    let without_origin = match endpoint.find("://") {
        Some(i) => endpoint[i + 3..]
            .find('/')
            .map(|j| &endpoint[i + 3 + j..])
            .unwrap_or("/"),
        None => endpoint,
    };
    let path = without_origin.split(['?', '#']).next().unwrap_or("");
    // Non-path endpoints ("GET /x", RPC names) keep a leading method word.
    let (method, path) = match path.split_once(' ') {
        Some((m, p)) if m.chars().all(|c| c.is_ascii_uppercase()) => (Some(m), p.trim()),
        _ => (None, path),
    };
    let templated: Vec<String> = path.split('/').map(template_segment).collect();
    let mut out = templated.join("/");
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    match method {
        Some(m) => format!("{m} {out}"),
        None => out,
    }
}

fn template_segment(segment: &str) -> String {
    if segment.is_empty() || segment.starts_with(':') || segment.starts_with('{') {
        return segment.to_string();
    }
    if let Some(placeholder) = placeholder(segment) {
        return placeholder.to_string();
    }
    // A file extension stays: `/files/1234.pdf` → `/files/:id.pdf`.
    if let Some((stem, ext)) = segment.rsplit_once('.') {
        if !stem.is_empty()
            && (1..=5).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphabetic())
        {
            if let Some(placeholder) = placeholder(stem) {
                return format!("{placeholder}.{ext}");
            }
        }
    }
    segment.to_string()
}

fn placeholder(s: &str) -> Option<&'static str> {
    let decoded_at = s.contains('@') || s.contains("%40");
    if s.chars().all(|c| c.is_ascii_digit()) {
        return Some(":id");
    }
    if is_uuid(s) {
        return Some(":uuid");
    }
    if decoded_at && s.contains('.') {
        return Some(":email");
    }
    if is_date(s) {
        return Some(":date");
    }
    let is_hex = s.chars().all(|c| c.is_ascii_hexdigit());
    if is_hex && s.len() >= 8 && s.chars().any(|c| c.is_ascii_digit()) {
        return Some(":hash");
    }
    // Long opaque tokens (base64url, slugs with ids): long, mixed letters and digits.
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    if s.len() >= 16
        && digits >= 2
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some(":token");
    }
    // Numbers with a prefix or suffix are still ids: `v2` stays, `ord_1234` → `:id`.
    if digits >= 4
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some(":id");
    }
    None
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let cases = [
            ("/api/users/42", "/api/users/:id"),
            (
                "/api/users/42/orders/9f8e7d6c5b4a",
                "/api/users/:id/orders/:hash",
            ),
            ("/api/users/42?expand=orders#top", "/api/users/:id"),
            ("https://app.example.com/api/items/7?x=1", "/api/items/:id"),
            ("https://app.example.com", "/"),
            (
                "/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6",
                "/orders/:uuid",
            ),
            (
                "/users/jane.doe@example.com/profile",
                "/users/:email/profile",
            ),
            ("/users/jane.doe%40example.com", "/users/:email"),
            ("/reports/2024-05-01", "/reports/:date"),
            ("/files/1234.pdf", "/files/:id.pdf"),
            ("/reset/eyJhbGciOiJIUzI1NiJ9abc123XYZ", "/reset/:token"),
            ("/orders/ord_123456", "/orders/:id"),
            ("/api/v2/health", "/api/v2/health"),
            ("/api/users/", "/api/users"),
            ("/", "/"),
            ("/api/users/:id", "/api/users/:id"),
            ("/api/users/{id}", "/api/users/{id}"),
            ("GET /api/users/42", "GET /api/users/:id"),
            ("/blog/hello-world", "/blog/hello-world"),
            ("/static/deadbeef", "/static/deadbeef"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(route_template(input), expected, "{input}");
        }
    }
}
