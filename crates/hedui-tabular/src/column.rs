//! [`TextColumn`]: a column of optional text cells stored in one buffer, and the rules for
//! turning typed cells (numbers, dates) into text.

use std::fmt::{self, Write as _};

use arrow::array::{Array, StringViewArray};

/// One column of text cells.
///
/// All cell text lives in one `String` with one end offset per row (16 bytes of overhead per
/// cell less than `Vec<Option<String>>` and no allocation per cell), because the linkage
/// engine reads 2-million-row files. A column read from Parquet a chunk at a time instead
/// keeps the string-view arrays the Parquet decoder made, whose cells point into the
/// decompressed pages: no cell is copied (the chunk is short-lived, and the views' 16 bytes a
/// cell would cost more than the offsets in a long-lived table). An empty cell and a null are
/// the same thing here: [`get`](Self::get) returns `None` for both.
///
/// ```
/// use hedui_tabular::TextColumn;
/// let col: TextColumn = [Some("张三"), None, Some("")].into_iter().collect();
/// assert_eq!(col.len(), 3);
/// assert_eq!(col.get(0), Some("张三"));
/// assert_eq!(col.get(1), None);
/// assert_eq!(col.get(2), None); // empty text is a null
/// assert_eq!(col.null_count(), 2);
/// ```
#[derive(Clone)]
pub struct TextColumn {
    cells: Cells,
}

#[derive(Clone)]
enum Cells {
    /// The text end to end and the end of each cell.
    Packed { data: String, ends: Vec<usize> },
    /// Arrays of string views, one after the other, and the row each starts at. A reader's
    /// arrays all have its batch size but the last: `uniform` says so, and the array of a row
    /// is then found by division.
    Views {
        arrays: Vec<StringViewArray>,
        starts: Vec<usize>,
        len: usize,
        uniform: bool,
    },
}

impl Default for TextColumn {
    fn default() -> TextColumn {
        TextColumn::with_capacity(0, 0)
    }
}

impl PartialEq for TextColumn {
    fn eq(&self, other: &TextColumn) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for TextColumn {}

impl std::hash::Hash for TextColumn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.len().hash(state);
        for cell in self {
            cell.hash(state);
        }
    }
}

impl TextColumn {
    /// An empty column.
    pub fn new() -> TextColumn {
        TextColumn::default()
    }

    /// An empty column with room for `rows` cells holding `bytes` bytes of text in total.
    pub fn with_capacity(rows: usize, bytes: usize) -> TextColumn {
        TextColumn {
            cells: Cells::Packed {
                data: String::with_capacity(bytes),
                ends: Vec::with_capacity(rows),
            },
        }
    }

    /// The packed buffers, the cells of a view column copied into them first (a column is
    /// appended to cell by cell only while a reader builds it, so this copy does not happen
    /// on the read path).
    fn packed(&mut self) -> (&mut String, &mut Vec<usize>) {
        if let Cells::Views { .. } = self.cells {
            let mut packed = TextColumn::with_capacity(self.len(), self.text_bytes());
            for cell in self.iter() {
                packed.push(cell);
            }
            *self = packed;
        }
        match &mut self.cells {
            Cells::Packed { data, ends } => (data, ends),
            Cells::Views { .. } => unreachable!("converted to packed above"),
        }
    }

    /// Appends a cell; `None` and `Some("")` both append a null.
    pub fn push(&mut self, value: Option<&str>) {
        let (data, ends) = self.packed();
        if let Some(v) = value {
            data.push_str(v);
        }
        ends.push(data.len());
    }

    /// Appends the `Display` text of `value` without an intermediate allocation.
    pub(crate) fn push_display(&mut self, value: impl fmt::Display) {
        let (data, ends) = self.packed();
        // Writing to a String cannot fail.
        let _ = write!(data, "{value}");
        ends.push(data.len());
    }

    /// Appends a cell built by `f` writing straight into the column's buffer.
    pub(crate) fn push_with(&mut self, f: impl FnOnce(&mut String)) {
        let (data, ends) = self.packed();
        f(data);
        ends.push(data.len());
    }

    /// Appends the cells of a string-view array without copying their text (a column that
    /// already holds packed cells takes copies instead).
    pub(crate) fn append_views(&mut self, array: &StringViewArray) {
        if self.is_empty() {
            self.cells = Cells::Views {
                arrays: Vec::new(),
                starts: Vec::new(),
                len: 0,
                uniform: true,
            };
        }
        match &mut self.cells {
            Cells::Views {
                arrays,
                starts,
                len,
                uniform,
            } => {
                // The last array stops being the last one.
                if let (Some(first), Some(last)) = (arrays.first(), arrays.last()) {
                    *uniform &= !first.is_empty() && last.len() == first.len();
                }
                starts.push(*len);
                *len += array.len();
                arrays.push(array.clone());
            }
            Cells::Packed { .. } => {
                for cell in array.iter() {
                    self.push(cell);
                }
            }
        }
    }

    /// The number of cells (rows).
    pub fn len(&self) -> usize {
        match &self.cells {
            Cells::Packed { ends, .. } => ends.len(),
            Cells::Views { len, .. } => *len,
        }
    }

    /// Whether the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell at `row`: `None` if it is null/empty or `row` is out of range.
    pub fn get(&self, row: usize) -> Option<&str> {
        match &self.cells {
            Cells::Packed { data, ends } => {
                let end = *ends.get(row)?;
                let start = if row == 0 { 0 } else { ends[row - 1] };
                if start == end {
                    None
                } else {
                    // Offsets are pushed only at char boundaries of `data`.
                    data.get(start..end)
                }
            }
            Cells::Views {
                arrays,
                starts,
                len,
                uniform,
            } => {
                if row >= *len {
                    return None;
                }
                // The array holding `row`: the last that starts at or before it.
                let k = if arrays.len() == 1 {
                    0
                } else if *uniform {
                    (row / arrays[0].len()).min(arrays.len() - 1)
                } else {
                    starts.partition_point(|&s| s <= row) - 1
                };
                let (array, i) = (&arrays[k], row - starts[k]);
                if array.is_null(i) {
                    return None;
                }
                let cell = array.value(i);
                (!cell.is_empty()).then_some(cell)
            }
        }
    }

    /// Calls `f` with the cells of `rows` in order (as [`get`](Self::get) gives them; rows
    /// beyond the end are not visited). Faster than a `get` per row: each array of a view
    /// column is walked without finding it again per cell, and without a look at its nulls when
    /// it has none.
    pub fn for_each_in<'a>(
        &'a self,
        rows: std::ops::Range<usize>,
        mut f: impl FnMut(Option<&'a str>),
    ) {
        let end = rows.end.min(self.len());
        let mut row = rows.start;
        match &self.cells {
            Cells::Packed { .. } => {
                while row < end {
                    f(self.get(row));
                    row += 1;
                }
            }
            Cells::Views { arrays, starts, .. } => {
                while row < end {
                    // The array holding `row`, and how many of its cells to visit.
                    let k = starts.partition_point(|&s| s <= row) - 1;
                    let (array, first) = (&arrays[k], row - starts[k]);
                    let last = array.len().min(first + (end - row));
                    if array.null_count() == 0 {
                        for i in first..last {
                            let cell = array.value(i);
                            f((!cell.is_empty()).then_some(cell));
                        }
                    } else {
                        for i in first..last {
                            f(if array.is_null(i) {
                                None
                            } else {
                                let cell = array.value(i);
                                (!cell.is_empty()).then_some(cell)
                            });
                        }
                    }
                    if last == first {
                        // An empty array: nothing more can be visited.
                        break;
                    }
                    row += last - first;
                }
            }
        }
    }

    /// The cells in row order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            column: self,
            front: 0,
            back: self.len(),
        }
    }

    /// How many cells are null or empty.
    pub fn null_count(&self) -> usize {
        self.iter().filter(Option::is_none).count()
    }

    /// Total bytes of cell text (a measure of the column's memory).
    pub fn text_bytes(&self) -> usize {
        match &self.cells {
            Cells::Packed { data, .. } => data.len(),
            Cells::Views { arrays, .. } => arrays
                .iter()
                .flat_map(|a| a.views().iter())
                // A view's low 32 bits are the length of its string.
                .map(|&v| v as u32 as usize)
                .sum(),
        }
    }

    /// The cells as owned strings, for callers that want the plain `Vec` shape.
    pub fn to_vec(&self) -> Vec<Option<String>> {
        self.iter().map(|c| c.map(str::to_owned)).collect()
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        if let Cells::Packed { data, ends } = &mut self.cells {
            data.shrink_to_fit();
            ends.shrink_to_fit();
        }
    }
}

impl fmt::Debug for TextColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        let mut list = f.debug_list();
        list.entries(self.iter().take(SHOWN));
        if self.len() > SHOWN {
            list.entry(&format_args!("… {} more", self.len() - SHOWN));
        }
        list.finish()
    }
}

impl<S: AsRef<str>> FromIterator<Option<S>> for TextColumn {
    fn from_iter<I: IntoIterator<Item = Option<S>>>(iter: I) -> TextColumn {
        let mut column = TextColumn::new();
        for cell in iter {
            column.push(cell.as_ref().map(AsRef::as_ref));
        }
        column
    }
}

impl From<Vec<Option<String>>> for TextColumn {
    fn from(cells: Vec<Option<String>>) -> TextColumn {
        cells.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a TextColumn {
    type Item = Option<&'a str>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a [`TextColumn`]'s cells.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    column: &'a TextColumn,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Option<&'a str>;

    fn next(&mut self) -> Option<Option<&'a str>> {
        if self.front >= self.back {
            return None;
        }
        let cell = self.column.get(self.front);
        self.front += 1;
        Some(cell)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(self.column.get(self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Floats at or above this magnitude are shown in scientific notation, the way Excel's
/// "General" format shows a long number: an 18-digit ID number stored as a number is already
/// corrupt (a double keeps ~16 digits), and `4.2130319800101005E+17` makes the ID
/// standardiser *report* that damage instead of accepting a silently wrong
/// `421303198001010048`. 1e11 is above every 11-digit mobile number.
pub const SCIENTIFIC_FROM: f64 = 1e11;

/// Writes a float as text: integral values without a fraction (`1234`), large magnitudes
/// (≥ [`SCIENTIFIC_FROM`]) in scientific notation with an explicit exponent sign
/// (`4.2130319800101005E+17`, the shortest mantissa that round-trips), anything else in the
/// shortest form that round-trips (`0.1`, `3.25`).
///
/// ```
/// use hedui_tabular::render_float;
/// assert_eq!(render_float(1234.0), "1234");
/// assert_eq!(render_float(0.1), "0.1");
/// assert_eq!(render_float(13912345678.0), "13912345678");
/// assert_eq!(render_float(421303198001010018.0), "4.2130319800101005E+17");
/// ```
pub fn render_float(value: f64) -> String {
    let mut s = String::new();
    write_float(&mut s, value);
    s
}

/// [`render_float`] into an existing buffer.
pub(crate) fn write_float(out: &mut String, value: f64) {
    // Writing to a String cannot fail.
    let _ = if !value.is_finite() {
        write!(out, "{value}")
    } else if value.abs() >= SCIENTIFIC_FROM {
        let start = out.len();
        let r = write!(out, "{value:E}");
        if let Some(e) = out[start..].find('E')
            && !out[start + e + 1..].starts_with('-')
        {
            out.insert(start + e + 1, '+');
        }
        r
    } else if value.fract() == 0.0 {
        // `{:.0}` of -0.0 is "-0".
        write!(out, "{:.0}", if value == 0.0 { 0.0 } else { value })
    } else {
        write!(out, "{value}")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_and_nulls() {
        let mut c = TextColumn::new();
        c.push(Some("a"));
        c.push(None);
        c.push(Some("张三"));
        c.push(Some(""));
        c.push_display(42);
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![Some("a"), None, Some("张三"), None, Some("42")]
        );
        assert_eq!(c.get(5), None);
        assert_eq!(c.null_count(), 2);
        assert_eq!(c.iter().next_back(), Some(Some("42")));
        assert_eq!(c.iter().len(), 5);
        assert_eq!(
            c.to_vec()[2].as_deref(),
            Some("张三"),
            "to_vec keeps the text"
        );
        assert!(format!("{c:?}").contains("张三"));
    }

    proptest::proptest! {
        /// Walking a range of a column gives what `get` gives row by row: for packed columns
        /// and for columns of string-view arrays of any sizes (empty ones too), with nulls,
        /// empty cells and strings longer than a view holds inline.
        #[test]
        fn for_each_in_gives_what_get_gives(
            arrays in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of("|a|张三|[a-z]{13,20}"), 0..6),
                0..5,
            ),
            start in 0usize..30,
            len in 0usize..30,
        ) {
            let mut views = TextColumn::new();
            let mut packed = TextColumn::new();
            for cells in &arrays {
                let array: StringViewArray = cells.iter().map(|c| c.as_deref()).collect();
                views.append_views(&array);
                cells.iter().for_each(|c| packed.push(c.as_deref()));
            }
            for column in [&views, &packed] {
                let mut walked = Vec::new();
                column.for_each_in(start..start + len, |v| walked.push(v));
                let got: Vec<Option<&str>> =
                    (start..(start + len).min(column.len())).map(|i| column.get(i)).collect();
                proptest::prop_assert_eq!(walked, got);
            }
        }
    }

    #[test]
    fn floats_render_like_excel_general() {
        for (v, want) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1234.0, "1234"),
            (-7.0, "-7"),
            (0.1, "0.1"),
            (1.5e-7, "0.00000015"),
            (13912345678.0, "13912345678"),
            (99999999999.0, "99999999999"),
            (1e11, "1E+11"),
            (421303198001010018.0, "4.2130319800101005E+17"),
            (-4.2e17, "-4.2E+17"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(render_float(v), want, "{v}");
        }
    }
}
