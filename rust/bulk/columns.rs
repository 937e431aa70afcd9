//! String columns counted in place: Arrow's layouts (offsets into one data buffer, or 16-byte
//! views) and NumPy's fixed-width UCS-4, read straight from their buffers, counted on Rust
//! threads. A null counts 0 tokens. Bytes that are not UTF-8 (Arrow producers should not give
//! any) and lone surrogates (NumPy can hold them) count as U+FFFD, as `text_of` treats them.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

/// Arrow's validity bitmap: bit `offset + i` (least significant bit first) set for non-null.
#[derive(Debug, Clone, Copy)]
pub struct Validity<'a> {
    pub bits: &'a [u8],
    pub offset: usize,
}

impl Validity<'_> {
    /// Whether value `i` is not null.
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        let k = self.offset + i;
        self.bits[k / 8] & (1 << (k % 8)) != 0
    }
}

/// Offsets of an Arrow `utf8` (32-bit) or `large_utf8` (64-bit) array: borrowed, or copied
/// when the producer's buffer is not aligned (Arrow buffers that went through pickle can be).
#[derive(Debug, Clone)]
pub enum Offsets<'a> {
    I32(Cow<'a, [i32]>),
    I64(Cow<'a, [i64]>),
}

impl Offsets<'_> {
    #[inline]
    fn get(&self, i: usize) -> i64 {
        match self {
            Offsets::I32(o) => o[i] as i64,
            Offsets::I64(o) => o[i],
        }
    }

    fn len(&self) -> usize {
        match self {
            Offsets::I32(o) => o.len(),
            Offsets::I64(o) => o.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A column of strings, borrowed from the buffers that hold it.
#[derive(Debug, Clone)]
pub enum Column<'a> {
    /// Arrow `utf8` / `large_utf8`: value `i` is `data[offsets[i]..offsets[i + 1]]`.
    Utf8 {
        offsets: Offsets<'a>,
        data: &'a [u8],
        validity: Option<Validity<'a>>,
    },
    /// Arrow `utf8_view`: a 16-byte view per value; up to 12 bytes inline, longer ones as
    /// (length, prefix, buffer index, offset) into `buffers`.
    Utf8View {
        views: &'a [[u8; 16]],
        buffers: Vec<&'a [u8]>,
        validity: Option<Validity<'a>>,
    },
    /// NumPy `<U{width}`: `width` code points per value, NUL-padded at the end.
    Ucs4 { data: Cow<'a, [u32]>, width: usize },
}

/// A column whose buffers do not hold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadColumn(pub String);

impl std::fmt::Display for BadColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed string column: {}", self.0)
    }
}

impl<'a> Column<'a> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::Utf8 { offsets, .. } => offsets.len().saturating_sub(1),
            Column::Utf8View { views, .. } => views.len(),
            Column::Ucs4 { data, width } => {
                if *width == 0 {
                    0
                } else {
                    data.len() / width
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks every offset and view against the buffers, once, so that reading values cannot
    /// go out of bounds.
    pub fn validate(&self) -> Result<(), BadColumn> {
        match self {
            Column::Utf8 {
                offsets,
                data,
                validity,
            } => {
                if offsets.is_empty() {
                    return Err(BadColumn("no offsets".into()));
                }
                let mut prev = offsets.get(0);
                if prev < 0 {
                    return Err(BadColumn("negative offset".into()));
                }
                for i in 1..offsets.len() {
                    let o = offsets.get(i);
                    if o < prev {
                        return Err(BadColumn(format!("offset {i} goes backwards")));
                    }
                    prev = o;
                }
                if prev as u64 > data.len() as u64 {
                    return Err(BadColumn("offsets past the end of the data".into()));
                }
                check_validity(validity, self.len())
            }
            Column::Utf8View {
                views,
                buffers,
                validity,
            } => {
                for (i, v) in views.iter().enumerate() {
                    let len = i32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
                    if len < 0 {
                        return Err(BadColumn(format!("view {i} has a negative length")));
                    }
                    if len > 12 {
                        let buf = i32::from_ne_bytes([v[8], v[9], v[10], v[11]]);
                        let off = i32::from_ne_bytes([v[12], v[13], v[14], v[15]]);
                        let ok = buf >= 0
                            && off >= 0
                            && (buf as usize) < buffers.len()
                            && off as u64 + len as u64 <= buffers[buf as usize].len() as u64;
                        if !ok && validity.is_none_or(|b| b.is_valid(i)) {
                            return Err(BadColumn(format!("view {i} points outside its buffer")));
                        }
                    }
                }
                check_validity(validity, views.len())
            }
            Column::Ucs4 { data, width } => {
                if *width > 0 && data.len() % width != 0 {
                    return Err(BadColumn("data is not a whole number of values".into()));
                }
                Ok(())
            }
        }
    }

    /// The text of value `i`, or None for a null. The column must have been validated.
    pub fn value(&self, i: usize) -> Option<Cow<'a, str>> {
        match self {
            Column::Utf8 {
                offsets,
                data,
                validity,
            } => {
                if validity.is_some_and(|b| !b.is_valid(i)) {
                    return None;
                }
                let (a, b) = (offsets.get(i) as usize, offsets.get(i + 1) as usize);
                Some(String::from_utf8_lossy(&data[a..b]))
            }
            Column::Utf8View {
                views,
                buffers,
                validity,
            } => {
                if validity.is_some_and(|b| !b.is_valid(i)) {
                    return None;
                }
                let v: &'a [u8; 16] = &views[i];
                let len = i32::from_ne_bytes([v[0], v[1], v[2], v[3]]) as usize;
                let bytes: &'a [u8] = if len <= 12 {
                    &v[4..4 + len]
                } else {
                    let buf = i32::from_ne_bytes([v[8], v[9], v[10], v[11]]) as usize;
                    let off = i32::from_ne_bytes([v[12], v[13], v[14], v[15]]) as usize;
                    &buffers[buf][off..off + len]
                };
                Some(String::from_utf8_lossy(bytes))
            }
            Column::Ucs4 { data, width } => {
                let cells = &data[i * width..(i + 1) * width];
                let end = cells.iter().rposition(|&c| c != 0).map_or(0, |k| k + 1);
                Some(Cow::Owned(ucs4_to_string(&cells[..end])))
            }
        }
    }
}

fn check_validity(validity: &Option<Validity<'_>>, len: usize) -> Result<(), BadColumn> {
    match validity {
        Some(v) if (v.offset + len).div_ceil(8) > v.bits.len() => {
            Err(BadColumn("validity bitmap too short".into()))
        }
        _ => Ok(()),
    }
}

/// Code points to text: a surrogate pair (as NumPy may hold one) becomes its char, any other
/// surrogate or invalid code point U+FFFD.
pub fn ucs4_to_string(cells: &[u32]) -> String {
    let mut out = String::with_capacity(cells.len());
    let mut i = 0;
    while i < cells.len() {
        let c = cells[i];
        if (0xD800..0xDC00).contains(&c) && i + 1 < cells.len() {
            let d = cells[i + 1];
            if (0xDC00..0xE000).contains(&d) {
                let cp = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
                i += 2;
                continue;
            }
        }
        out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
        i += 1;
    }
    out
}

/// The width in code points of a native-order NumPy str dtype (`<U12` on a little-endian
/// machine); None for any other type string.
pub fn numpy_str_width(typestr: &str) -> Option<usize> {
    let native = if cfg!(target_endian = "little") {
        '<'
    } else {
        '>'
    };
    typestr
        .strip_prefix(native)?
        .strip_prefix('U')?
        .parse()
        .ok()
}

/// Why a NumPy array cannot be read in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumpyError {
    /// Not an array of native-order str.
    NotStr(String),
    /// A layout this reader does not take: not 1-D, not C-contiguous, no data.
    Layout(&'static str),
}

impl std::fmt::Display for NumpyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NumpyError::NotStr(m) => f.write_str(m),
            NumpyError::Layout(m) => f.write_str(m),
        }
    }
}

/// A NumPy str array described by its `__array_interface__` (type string, shape, strides,
/// data address), read in place: it must be 1-D, C-contiguous and of native-order `U` cells.
/// Its cells are copied only when the address is not aligned for u32.
///
/// # Safety
/// When the checks pass, `data` must hold `shape[0]` items of the type string's width, alive
/// and unchanged for as long as the column is used.
pub unsafe fn numpy_str_column<'a>(
    typestr: &str,
    shape: &[usize],
    strides: Option<&[isize]>,
    data: usize,
) -> Result<Column<'a>, NumpyError> {
    let width = numpy_str_width(typestr).ok_or_else(|| {
        NumpyError::NotStr(format!(
            "expected a native-order NumPy str array, got typestr {typestr:?}"
        ))
    })?;
    let &[len] = shape else {
        return Err(NumpyError::Layout("expected a 1-D array"));
    };
    if strides.is_some_and(|s| s.first() != Some(&(4 * width as isize)) && len > 1) {
        return Err(NumpyError::Layout("expected a C-contiguous array"));
    }
    let n = len
        .checked_mul(width)
        .ok_or(NumpyError::Layout("expected an array that fits in memory"))?;
    if data == 0 && n > 0 {
        return Err(NumpyError::Layout("NumPy data pointer is null"));
    }
    let cells: Cow<'a, [u32]> = match data as *const u32 {
        _ if n == 0 => Cow::Borrowed(&[]),
        // SAFETY: the caller vouches for `n` code units at `data`.
        p if p.is_aligned() => Cow::Borrowed(std::slice::from_raw_parts(p, n)),
        p => Cow::Owned((0..n).map(|i| p.add(i).read_unaligned()).collect()),
    };
    Ok(Column::Ucs4 { data: cells, width })
}

/// The count of each text (0 for a missing one: a None in Python), on the current Rayon pool;
/// the first error (in order) is returned.
pub fn count_texts<E: Send>(
    texts: &[Option<Cow<'_, str>>],
    count: impl Fn(&str) -> Result<usize, E> + Sync,
) -> Result<Vec<i64>, E> {
    counts_in_order(texts.len(), |i| {
        texts[i]
            .as_deref()
            .map_or(Ok(0), |t| count(t).map(|n| n as i64))
    })
}

/// The count of each value of a validated column (0 for a null), on the current Rayon pool.
/// `count` is the counting of one text; its first error (in column order) is returned.
pub fn count_column<E: Send>(
    column: &Column<'_>,
    count: impl Fn(&str) -> Result<usize, E> + Sync,
) -> Result<Vec<i64>, E> {
    let one = |i: usize| match column.value(i) {
        Some(t) => count(&t).map(|n| n as i64),
        None => Ok(0),
    };
    if column.len() < 64 {
        return (0..column.len()).map(one).collect();
    }
    counts_in_order(column.len(), one)
}

/// `one(i)` for each `i < n`, in parallel on the current Rayon pool, returning the error of the
/// lowest failing `i`. Rayon's `collect` into a `Result` returns whichever error a thread met
/// first, so the error would depend on timing; here, once `i` fails, only items before it are
/// still counted (an earlier one may fail too), and the error kept is the lowest.
fn counts_in_order<E: Send>(
    n: usize,
    one: impl Fn(usize) -> Result<i64, E> + Sync,
) -> Result<Vec<i64>, E> {
    let first_failed = AtomicUsize::new(usize::MAX);
    let error: Mutex<Option<(usize, E)>> = Mutex::new(None);
    let counts: Vec<i64> = (0..n)
        .into_par_iter()
        .with_min_len(32)
        .map(|i| {
            if i > first_failed.load(Ordering::Relaxed) {
                return 0;
            }
            one(i).unwrap_or_else(|e| {
                first_failed.fetch_min(i, Ordering::Relaxed);
                let mut kept = error.lock().unwrap_or_else(PoisonError::into_inner);
                if kept.as_ref().is_none_or(|(at, _)| i < *at) {
                    *kept = Some((i, e));
                }
                0
            })
        })
        .collect();
    match error.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some((_, e)) => Err(e),
        None => Ok(counts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    fn utf8<'a>(offsets: &'a [i32], data: &'a [u8], validity: Option<Validity<'a>>) -> Column<'a> {
        Column::Utf8 {
            offsets: Offsets::I32(Cow::Borrowed(offsets)),
            data,
            validity,
        }
    }

    #[test]
    fn utf8_columns_count_each_value_and_nulls_as_zero() {
        let enc = builtin::get("cl100k_base").unwrap();
        let data = b"hello worldxxhi there";
        let offsets = [0, 11, 13, 21];
        let bits = [0b101u8];
        let col = utf8(
            &offsets,
            data,
            Some(Validity {
                bits: &bits,
                offset: 0,
            }),
        );
        col.validate().unwrap();
        let got = count_column(&col, |t| enc.count_ordinary(t)).unwrap();
        assert_eq!(got, vec![2, 0, 2]);
        // A slice of a larger array: offsets start past 0, validity bits shifted.
        let shifted = [0b1010u8];
        let sliced = utf8(
            &offsets[1..],
            data,
            Some(Validity {
                bits: &shifted,
                offset: 2,
            }),
        );
        assert_eq!(
            count_column(&sliced, |t| enc.count_ordinary(t)).unwrap(),
            vec![0, 2]
        );
    }

    #[test]
    fn malformed_columns_are_refused() {
        assert!(utf8(&[0, 5, 3], b"hello", None).validate().is_err());
        assert!(utf8(&[0, 6], b"hello", None).validate().is_err());
        assert!(utf8(&[-1, 2], b"hello", None).validate().is_err());
        let bits = [0xFFu8];
        let long = [0i32; 10];
        let v = Validity {
            bits: &bits,
            offset: 0,
        };
        assert!(utf8(&long, b"", Some(v)).validate().is_err());
        let mut view = [0u8; 16];
        view[0] = 20; // 20 bytes in buffer 0 from offset 0, but the buffer has 5
        let views = [view];
        let col = Column::Utf8View {
            views: &views,
            buffers: vec![b"hello"],
            validity: None,
        };
        assert!(col.validate().is_err());
    }

    #[test]
    fn views_read_inline_and_buffered_values() {
        let enc = builtin::get("o200k_base").unwrap();
        let long = "a longer string than twelve bytes";
        let mut inline = [0u8; 16];
        inline[0] = 5;
        inline[4..9].copy_from_slice(b"hello");
        let mut outer = [0u8; 16];
        outer[..4].copy_from_slice(&(long.len() as i32).to_ne_bytes());
        outer[4..8].copy_from_slice(&long.as_bytes()[..4]);
        outer[8..12].copy_from_slice(&1i32.to_ne_bytes());
        outer[12..16].copy_from_slice(&3i32.to_ne_bytes());
        let buf1 = format!("xyz{long}");
        let views = [inline, outer];
        let col = Column::Utf8View {
            views: &views,
            buffers: vec![b"", buf1.as_bytes()],
            validity: None,
        };
        col.validate().unwrap();
        assert_eq!(col.value(1).unwrap(), long);
        let got = count_column(&col, |t| enc.count_ordinary(t)).unwrap();
        assert_eq!(got[0], 1);
        assert_eq!(got[1] as usize, enc.count_ordinary(long).unwrap());
    }

    #[test]
    fn ucs4_values_drop_padding_and_mend_surrogates() {
        let cells: Vec<u32> = "hi\0\0".chars().map(|c| c as u32).collect();
        let col = Column::Ucs4 {
            data: Cow::Borrowed(&cells),
            width: 2,
        };
        assert_eq!(col.len(), 2);
        assert_eq!(col.value(0).unwrap(), "hi");
        assert_eq!(col.value(1).unwrap(), "");
        assert_eq!(
            ucs4_to_string(&[0xD83D, 0xDE00, 0xD800, 0x41]),
            "😀\u{FFFD}A"
        );
        assert_eq!(ucs4_to_string(&[0x110000]), "\u{FFFD}");
    }

    /// NumPy's mark of this machine's byte order.
    fn native() -> &'static str {
        if cfg!(target_endian = "little") {
            "<"
        } else {
            ">"
        }
    }

    #[test]
    fn numpy_str_widths_need_native_order() {
        let native = native();
        let foreign = if native == "<" { ">" } else { "<" };
        assert_eq!(numpy_str_width(&format!("{native}U12")), Some(12));
        assert_eq!(numpy_str_width(&format!("{native}U0")), Some(0));
        assert_eq!(numpy_str_width(&format!("{foreign}U12")), None);
        assert_eq!(numpy_str_width(&format!("{native}i8")), None);
        assert_eq!(numpy_str_width(&format!("{native}Ux")), None);
        assert_eq!(numpy_str_width("|O"), None);
    }

    #[test]
    fn numpy_arrays_are_read_in_place_when_their_layout_allows() {
        let u2 = format!("{}U2", native());
        let cells: Vec<u32> = "hiyo".chars().map(|c| c as u32).collect();
        let addr = cells.as_ptr() as usize;
        // SAFETY (each call): `cells` holds 2 items of width 2 and outlives the columns.
        let col = unsafe { numpy_str_column(&u2, &[2], Some(&[8]), addr) }.unwrap();
        assert!(matches!(
            col,
            Column::Ucs4 {
                data: Cow::Borrowed(_),
                width: 2
            }
        ));
        assert_eq!(
            (col.value(0).unwrap(), col.value(1).unwrap()),
            ("hi".into(), "yo".into())
        );
        // No strides (C order said so), or any stride for a single item.
        assert!(unsafe { numpy_str_column(&u2, &[2], None, addr) }.is_ok());
        assert!(unsafe { numpy_str_column(&u2, &[1], Some(&[16]), addr) }.is_ok());
        // Unaligned memory is copied.
        let bytes: Vec<u8> = [&[0u8][..], &le_cells(&cells)].concat();
        let odd = bytes.as_ptr() as usize + 1;
        let col = unsafe { numpy_str_column(&u2, &[2], None, odd) }.unwrap();
        assert!(matches!(
            col,
            Column::Ucs4 {
                data: Cow::Owned(_),
                ..
            }
        ));
        assert_eq!(col.value(1).unwrap(), "yo");
        // Empty arrays need no data.
        assert_eq!(
            unsafe { numpy_str_column(&u2, &[0], None, 0) }
                .unwrap()
                .len(),
            0
        );
        let refused = |typestr: &str, shape: &[usize], strides: Option<&[isize]>, data| {
            unsafe { numpy_str_column(typestr, shape, strides, data) }
                .err()
                .unwrap()
        };
        assert_eq!(
            refused("|O", &[2], None, addr).to_string(),
            "expected a native-order NumPy str array, got typestr \"|O\""
        );
        assert!(matches!(
            refused("|O", &[2, 2], None, 0),
            NumpyError::NotStr(_)
        ));
        assert_eq!(
            refused(&u2, &[1, 2], None, addr),
            NumpyError::Layout("expected a 1-D array")
        );
        assert_eq!(
            refused(&u2, &[], None, addr),
            NumpyError::Layout("expected a 1-D array")
        );
        assert_eq!(
            refused(&u2, &[2], Some(&[16]), addr),
            NumpyError::Layout("expected a C-contiguous array")
        );
        assert_eq!(
            refused(&u2, &[2], None, 0),
            NumpyError::Layout("NumPy data pointer is null")
        );
        assert!(matches!(
            refused(&u2, &[usize::MAX], None, addr),
            NumpyError::Layout(_)
        ));
    }

    fn le_cells(cells: &[u32]) -> Vec<u8> {
        cells.iter().flat_map(|c| c.to_ne_bytes()).collect()
    }

    #[test]
    fn texts_count_with_none_as_zero() {
        let texts: Vec<Option<Cow<'_, str>>> = (0..100)
            .map(|i| (i % 3 != 0).then(|| Cow::Owned("ab ".repeat(i))))
            .collect();
        let got = count_texts(&texts, |t| Ok::<_, ()>(t.len())).unwrap();
        let want: Vec<i64> = (0..100)
            .map(|i| if i % 3 == 0 { 0 } else { 3 * i as i64 })
            .collect();
        assert_eq!(got, want);
        let failed = count_texts(&texts, |t| if t.len() > 30 { Err(t.len()) } else { Ok(1) });
        assert_eq!(failed, Err(33));
    }

    #[test]
    fn the_first_error_in_order_wins_even_when_a_later_one_comes_sooner() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let texts: Vec<Option<Cow<'_, str>>> =
            (0..256).map(|i| Some(Cow::Owned(i.to_string()))).collect();
        let got = pool.install(|| {
            count_texts(&texts, |t| match t {
                "11" => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    Err(11)
                }
                "200" | "150" => Err(t.parse::<i32>().unwrap()),
                _ => Ok(1),
            })
        });
        assert_eq!(got, Err(11));
    }

    #[test]
    fn errors_come_back_in_column_order() {
        let data = "ab".repeat(100);
        let offsets: Vec<i32> = (0..=200).collect();
        let col = utf8(&offsets, data.as_bytes(), None);
        let got = count_column(&col, |t| if t == "b" { Err(t.len()) } else { Ok(1) });
        assert_eq!(got, Err(1));
    }
}
