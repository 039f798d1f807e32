//! Standardised records saved to disk and read back, so that a file linked again and again (a
//! 2-million-record population register that analysts link their files against) is
//! standardised once.
//!
//! The format is private to hedui and versioned: a header naming what the records were
//! prepared from (the caller's `key`: file, size, modification time, column mapping, hedui
//! version), the columns of [`Records`] and the strings of their own [`Interner`], all little
//! endian, and a CRC-32 of everything before it. Anything that does not read back
//! exactly — another key, another format version, a truncated or altered file — is an error,
//! and the caller standardises the file afresh.
//!
//! A saved file holds personal data (names, ID numbers, addresses, phones): the caller keeps
//! it in a directory only the service account can read and logs each write and read.

use std::io::{self, Read, Write};

use crate::record::{IdQuality, Interner, RecordIds, Records};

const MAGIC: &[u8; 16] = b"HEDUI-PREPARED\0\0";
const FORMAT_VERSION: u32 = 2;

/// Why a saved file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PreparedError {
    /// Reading or writing failed (a truncated file reads as "unexpected end of file").
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Not a saved-records file, or one of another format version.
    #[error("not a hedui prepared-records file of format version {FORMAT_VERSION}")]
    Format,
    /// Saved from another input (or another version of hedui, or another column mapping).
    #[error("prepared from something else")]
    OtherKey,
    /// The checksum or the structure does not hold: the file was altered or damaged.
    #[error("damaged: {0}")]
    Damaged(&'static str),
}

/// A writer that checksums what passes through it.
struct Summing<W> {
    inner: W,
    sum: crc32fast::Hasher,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that checksums what passes through it.
struct Checked<R> {
    inner: R,
    sum: crc32fast::Hasher,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }
}

fn put_u64(w: &mut impl Write, v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    put_u64(w, b.len() as u64)?;
    w.write_all(b)
}

/// Writes a column of fixed-size values, `N` bytes each.
fn put_column<T, const N: usize>(
    w: &mut impl Write,
    values: &[T],
    bytes: impl Fn(&T) -> [u8; N],
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(values.len().min(1 << 16) * N);
    for chunk in values.chunks(1 << 16) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&bytes(v));
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

fn get_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A length read from the file, refused when it is beyond what the file could hold.
fn get_len(r: &mut impl Read, limit: u64) -> Result<usize, PreparedError> {
    let n = get_u64(r)?;
    if n > limit {
        return Err(PreparedError::Damaged("a length beyond the file's size"));
    }
    usize::try_from(n).map_err(|_| PreparedError::Damaged("a length beyond memory"))
}

fn get_bytes(r: &mut impl Read, limit: u64) -> Result<Vec<u8>, PreparedError> {
    let n = get_len(r, limit)?;
    let mut b = vec![0u8; n];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// Reads `n` values of `N` bytes each.
fn get_column<T, const N: usize>(
    r: &mut impl Read,
    n: usize,
    value: impl Fn([u8; N]) -> Result<T, PreparedError>,
) -> Result<Vec<T>, PreparedError> {
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; n.min(1 << 16) * N];
    let mut left = n;
    while left > 0 {
        let k = left.min(1 << 16);
        r.read_exact(&mut buf[..k * N])?;
        for c in buf[..k * N].chunks_exact(N) {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            out.push(value(a)?);
        }
        left -= k;
    }
    Ok(out)
}

fn quality_byte(q: &IdQuality) -> [u8; 1] {
    [match q {
        IdQuality::Missing => 0,
        IdQuality::Invalid => 1,
        IdQuality::Valid => 2,
    }]
}

/// Writes `records`, whose strings are those of `strings`, prepared from what `key` names.
///
/// # Errors
///
/// When writing fails.
pub fn write_prepared(
    w: impl Write,
    key: &str,
    records: &Records,
    strings: &Interner,
) -> Result<(), PreparedError> {
    let mut w = Summing {
        inner: w,
        sum: crc32fast::Hasher::new(),
    };
    w.write_all(MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_le_bytes())?;
    put_bytes(&mut w, key.as_bytes())?;
    let (text, ends) = strings.parts();
    put_u64(&mut w, ends.len() as u64)?;
    put_bytes(&mut w, text.as_bytes())?;
    put_column(&mut w, ends, |e| (*e as u64).to_le_bytes())?;
    let n = records.len();
    put_u64(&mut w, n as u64)?;
    let (ids, id_blocks, _) = records.record_id.parts();
    put_bytes(&mut w, ids)?;
    put_u64(&mut w, id_blocks.len() as u64)?;
    put_column(&mut w, id_blocks, |e| (*e as u64).to_le_bytes())?;
    put_column(&mut w, &records.id18, |v| *v)?;
    put_column(&mut w, &records.id_quality, quality_byte)?;
    for bools in [&records.id_was15, &records.name_wildcard] {
        put_column(&mut w, bools, |b| [u8::from(*b)])?;
    }
    put_column(&mut w, &records.gender, |g| [*g])?;
    for ids in [
        &records.name_raw,
        &records.name,
        &records.pinyin,
        &records.surname_pinyin,
        &records.former_name,
        &records.township,
        &records.village,
        &records.address,
    ] {
        put_column(&mut w, ids, |v| v.to_le_bytes())?;
    }
    put_column(&mut w, &records.dob, |v| v.to_le_bytes())?;
    put_column(&mut w, &records.phone, |v| v.to_le_bytes())?;
    let Summing { mut inner, sum } = w;
    inner.write_all(&sum.finalize().to_le_bytes())?;
    inner.flush()?;
    Ok(())
}

/// Reads records written by [`write_prepared`] with the same `key`. `size` is the size of the
/// file read, which bounds every length in it.
///
/// # Errors
///
/// [`PreparedError`]: another key or format, a damaged file, or a failed read.
pub fn read_prepared(
    r: impl Read,
    key: &str,
    size: u64,
) -> Result<(Records, Interner), PreparedError> {
    let mut r = Checked {
        inner: r,
        sum: crc32fast::Hasher::new(),
    };
    let mut magic = [0u8; 16];
    let mut version = [0u8; 4];
    r.read_exact(&mut magic)?;
    r.read_exact(&mut version)?;
    if &magic != MAGIC || u32::from_le_bytes(version) != FORMAT_VERSION {
        return Err(PreparedError::Format);
    }
    if get_bytes(&mut r, size)? != key.as_bytes() {
        return Err(PreparedError::OtherKey);
    }
    let count = get_len(&mut r, size / 8)?;
    let text = String::from_utf8(get_bytes(&mut r, size)?)
        .map_err(|_| PreparedError::Damaged("strings not UTF-8"))?;
    let ends: Vec<usize> = get_column(&mut r, count, |b| {
        usize::try_from(u64::from_le_bytes(b)).map_err(|_| PreparedError::Damaged("offset"))
    })?;
    let strings = Interner::from_parts(text, ends)
        .ok_or(PreparedError::Damaged("string offsets out of order"))?;
    // Every record takes at least this many bytes of columns.
    const RECORD_BYTES: u64 = 2 + 18 + 4 + 8 * 4 + 4 + 8;
    let n = get_len(&mut r, size / RECORD_BYTES)?;
    let ids = get_bytes(&mut r, size)?;
    let blocks = get_len(&mut r, size / 8)?;
    let id_blocks: Vec<usize> = get_column(&mut r, blocks, |b| {
        usize::try_from(u64::from_le_bytes(b)).map_err(|_| PreparedError::Damaged("offset"))
    })?;
    let record_id = RecordIds::from_parts(ids, id_blocks, n)
        .ok_or(PreparedError::Damaged("record ids not whole"))?;
    let id18 = get_column(&mut r, n, Ok)?;
    let id_quality = get_column(&mut r, n, |[b]| match b {
        0 => Ok(IdQuality::Missing),
        1 => Ok(IdQuality::Invalid),
        2 => Ok(IdQuality::Valid),
        _ => Err(PreparedError::Damaged("ID quality")),
    })?;
    let flag = |[b]: [u8; 1]| match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(PreparedError::Damaged("flag")),
    };
    let id_was15 = get_column(&mut r, n, flag)?;
    let name_wildcard = get_column(&mut r, n, flag)?;
    let gender = get_column(&mut r, n, |[b]| Ok(b))?;
    let limit = strings.len() as u32;
    let string_id = |b: [u8; 4]| {
        let v = u32::from_le_bytes(b);
        if v < limit {
            Ok(v)
        } else {
            Err(PreparedError::Damaged("string id out of range"))
        }
    };
    let name_raw = get_column(&mut r, n, string_id)?;
    let name = get_column(&mut r, n, string_id)?;
    let pinyin = get_column(&mut r, n, string_id)?;
    let surname_pinyin = get_column(&mut r, n, string_id)?;
    let former_name = get_column(&mut r, n, string_id)?;
    let township = get_column(&mut r, n, |b| Ok(u32::from_le_bytes(b)))?;
    let village = get_column(&mut r, n, string_id)?;
    let address = get_column(&mut r, n, string_id)?;
    let dob = get_column(&mut r, n, |b| Ok(i32::from_le_bytes(b)))?;
    let phone = get_column(&mut r, n, |b| Ok(u64::from_le_bytes(b)))?;
    let expected = r.sum.finalize();
    let mut stored = [0u8; 4];
    r.inner.read_exact(&mut stored)?;
    if u32::from_le_bytes(stored) != expected {
        return Err(PreparedError::Damaged("checksum"));
    }
    let mut rest = [0u8; 1];
    if r.inner.read(&mut rest)? != 0 {
        return Err(PreparedError::Damaged("bytes after the checksum"));
    }
    let records = Records {
        record_id,
        id18,
        id_quality,
        id_was15,
        name_raw,
        name,
        name_wildcard,
        pinyin,
        surname_pinyin,
        former_name,
        dob,
        gender,
        township,
        village,
        address,
        phone,
    };
    Ok((records, strings))
}

/// Moves `records`, standardised into `from`, over to `into`: each of their strings is
/// interned there (in the order `from` first met them, so ids come out as if the records had
/// been standardised into `into` directly) and their string ids are rewritten.
pub fn rebase(records: &mut Records, from: &Interner, into: &mut Interner) {
    let map: Vec<u32> = (0..from.len() as u32)
        .map(|id| into.intern(from.get(id)))
        .collect();
    let remap = |col: &mut Vec<u32>| {
        for v in col.iter_mut() {
            *v = map.get(*v as usize).copied().unwrap_or(0);
        }
    };
    for col in records.interned_columns_mut() {
        remap(col);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{InputRecord, prepare};

    fn sample() -> Vec<InputRecord> {
        (0..40)
            .map(|i| InputRecord {
                record_id: format!("R{i}"),
                name: Some(["张伟", "王芳", "欧阳婧怡", "張偉"][i % 4].into()),
                former_name: (i % 9 == 0).then(|| "张三".into()),
                id_number: (i % 5 != 0).then(|| format!("42130319800101{:03}X", i)),
                birth_date: Some(["1980-01-01", "19800102", ""][i % 3].into()),
                gender: Some(["男", "2"][i % 2].into()),
                address: Some(format!("湖北省随州市曾都区南郊街道{}号", i % 5)),
                phone: (i % 2 == 0).then(|| format!("1380000{:04}", i)),
            })
            .collect()
    }

    fn saved(key: &str) -> (Vec<u8>, Records, Interner) {
        let mut strings = Interner::new();
        let recs = prepare(&sample(), &mut strings, None);
        let mut buf = Vec::new();
        write_prepared(&mut buf, key, &recs, &strings).expect("write");
        (buf, recs, strings)
    }

    fn same(a: &Records, sa: &Interner, b: &Records, sb: &Interner) {
        assert_eq!(a.len(), b.len());
        for i in 0..a.len() {
            assert_eq!(a.record_id.get(i), b.record_id.get(i));
            assert_eq!(a.id18[i], b.id18[i]);
            assert_eq!(a.id_quality[i], b.id_quality[i]);
            assert_eq!(
                (a.dob[i], a.gender[i], a.phone[i], a.township[i]),
                (b.dob[i], b.gender[i], b.phone[i], b.township[i])
            );
            for (x, y) in [
                (a.name[i], b.name[i]),
                (a.name_raw[i], b.name_raw[i]),
                (a.pinyin[i], b.pinyin[i]),
                (a.surname_pinyin[i], b.surname_pinyin[i]),
                (a.former_name[i], b.former_name[i]),
                (a.village[i], b.village[i]),
                (a.address[i], b.address[i]),
            ] {
                assert_eq!(sa.get(x), sb.get(y));
            }
        }
    }

    #[test]
    fn round_trip_and_rebase() {
        let (buf, recs, strings) = saved("k1");
        let (mut back, back_strings) =
            read_prepared(&buf[..], "k1", buf.len() as u64).expect("read");
        same(&recs, &strings, &back, &back_strings);
        // Rebased into an interner that already holds other strings.
        let mut into = Interner::new();
        into.intern("李四");
        into.intern("王芳");
        rebase(&mut back, &back_strings, &mut into);
        same(&recs, &strings, &back, &into);
        // Strings read back can be interned into as well: known ones keep their ids.
        let (_, mut again) = read_prepared(&buf[..], "k1", buf.len() as u64).expect("read");
        let n = again.len();
        for id in 1..n as u32 {
            let s = again.get(id).to_owned();
            assert_eq!(again.intern(&s), id);
        }
        assert_eq!(again.intern("一个新名字"), n as u32);
    }

    /// A reader handing out a few bytes at a time, unlike the writer's pieces.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(5);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn checksum_does_not_depend_on_how_the_bytes_arrive() {
        let (buf, recs, strings) = saved("k1");
        let (back, back_strings) =
            read_prepared(Trickle(&buf), "k1", buf.len() as u64).expect("read in pieces");
        same(&recs, &strings, &back, &back_strings);
    }

    #[test]
    fn another_key_or_damage_is_refused() {
        let (buf, _, _) = saved("k1");
        let size = buf.len() as u64;
        assert!(matches!(
            read_prepared(&buf[..], "k2", size),
            Err(PreparedError::OtherKey)
        ));
        assert!(read_prepared(&buf[..buf.len() - 3], "k1", size).is_err());
        // Any single flipped byte after the header is caught.
        for at in (40..buf.len()).step_by(7) {
            let mut bad = buf.clone();
            bad[at] ^= 0x10;
            assert!(read_prepared(&bad[..], "k1", size).is_err(), "byte {at}");
        }
        let mut longer = buf.clone();
        longer.push(0);
        assert!(read_prepared(&longer[..], "k1", size + 1).is_err());
        assert!(matches!(
            read_prepared(&b"not a prepared file at all"[..], "k1", 26),
            Err(PreparedError::Format)
        ));
    }
}
