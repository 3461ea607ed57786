//! Queue message bodies on the wire. Cloudflare bills a queue operation per 64 KB of body, so a
//! body past one unit is gzip-compressed when that makes it fewer units (events' JSON shrinks
//! about sevenfold): a 120 KB message then costs one unit a write, read and delete, not two.
//! A smaller body goes as it is (compressing it would save nothing and cost CPU). A reader tells
//! the two apart by gzip's magic bytes, which no JSON text begins with, so bodies queued before
//! compression, or by another writer, still read.
//!
//! Pure: bytes in, bytes out.

use std::borrow::Cow;
use std::io::{Read, Write};

/// The bytes one billed queue operation covers.
pub const UNIT_BYTES: usize = 64 * 1024;

/// The most a compressed body may expand to: far above the 128 KB a message holds, so a body
/// that claims more is not ours.
const MAX_OPENED_BYTES: u64 = 4 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The billed units of a body of `bytes` (at least one).
pub fn units(bytes: usize) -> u64 {
    bytes.div_ceil(UNIT_BYTES).max(1) as u64
}

/// The body as it goes on the wire: gzip-compressed when that saves a unit, else as it is.
pub fn seal(body: &[u8]) -> Cow<'_, [u8]> {
    if body.len() <= UNIT_BYTES {
        return Cow::Borrowed(body);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let compressed = encoder.write_all(body).and_then(|()| encoder.finish()).ok();
    match compressed {
        Some(gz) if units(gz.len()) < units(body.len()) => Cow::Owned(gz),
        _ => Cow::Borrowed(body),
    }
}

/// A body as it came off the wire, decompressed if it was sealed so.
pub fn open(wire: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if !wire.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(wire));
    }
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(wire)
        .take(MAX_OPENED_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("a compressed queue body does not decompress: {e}"))?;
    if body.len() as u64 > MAX_OPENED_BYTES {
        return Err("a compressed queue body expands past 4 MB".into());
    }
    Ok(Cow::Owned(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_json(n: usize) -> Vec<u8> {
        let events: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"message":"GET /api/users/{i} answered 200 in {} ms","level":"info","service":"api","trace_id":"{:032}"}}"#,
                    i % 900,
                    i * 2654435761
                )
            })
            .collect();
        format!(r#"{{"project":null,"events":[{}]}}"#, events.join(",")).into_bytes()
    }

    #[test]
    fn queue_operations_are_per_64_kb() {
        assert_eq!(units(0), 1);
        assert_eq!(units(65_536), 1);
        assert_eq!(units(65_537), 2);
        assert_eq!(units(120_000), 2);
    }

    #[test]
    fn a_body_within_one_unit_goes_as_it_is() {
        let body = events_json(100);
        assert!(body.len() <= UNIT_BYTES);
        assert!(matches!(seal(&body), Cow::Borrowed(_)));
        assert_eq!(open(&body).unwrap().as_ref(), body.as_slice());
    }

    #[test]
    fn a_body_past_one_unit_is_compressed_to_fewer_units_and_opens_to_itself() {
        for n in [600, 1000, 1200] {
            let body = events_json(n);
            assert!(units(body.len()) >= 2, "{n}: {}", body.len());
            let wire = seal(&body);
            assert!(units(wire.len()) < units(body.len()), "{n}");
            assert!(wire.starts_with(&GZIP_MAGIC));
            assert_eq!(open(&wire).unwrap().as_ref(), body.as_slice(), "{n}");
        }
    }

    #[test]
    fn an_incompressible_body_goes_as_it_is() {
        // A linear congruential stream: bytes with no repetition deflate can use.
        let mut x: u64 = 1;
        let body: Vec<u8> = (0..100_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                (x >> 56) as u8 | 0x80
            })
            .collect();
        assert!(matches!(seal(&body), Cow::Borrowed(_)));
    }

    #[test]
    fn a_broken_or_bomb_body_is_refused() {
        let mut wire = seal(&events_json(1000)).into_owned();
        wire.truncate(wire.len() / 2);
        assert!(open(&wire).is_err());
        let zeros = vec![b' '; 5 << 20];
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
        encoder.write_all(&zeros).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(open(&bomb).unwrap_err().contains("4 MB"));
    }
}
