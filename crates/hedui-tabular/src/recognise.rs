//! Recognising identity columns from headers. The rules are in the crate docs, "Recognising
//! identity columns".

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::Error;

/// An identity field hedui links on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// The record's own identifier (`rid`, `id`, `record_id`, `unique_id`, `编号` …).
    RecordId,
    /// Full name (姓名).
    Name,
    /// A former name (曾用名).
    FormerName,
    /// 公民身份号码, the 18-digit resident ID number.
    IdNumber,
    /// Date of birth (出生日期).
    BirthDate,
    /// Gender (性别).
    Gender,
    /// Address (住址).
    Address,
    /// Phone number (联系电话).
    Phone,
}

impl Field {
    /// Every field, in the order [`ColumnMap::iter`] reports them.
    pub const ALL: [Field; 8] = [
        Field::RecordId,
        Field::Name,
        Field::FormerName,
        Field::IdNumber,
        Field::BirthDate,
        Field::Gender,
        Field::Address,
        Field::Phone,
    ];

    /// The field's name on the command line (`--map name=姓名`).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::RecordId => "record_id",
            Field::Name => "name",
            Field::FormerName => "former_name",
            Field::IdNumber => "id_number",
            Field::BirthDate => "birth_date",
            Field::Gender => "gender",
            Field::Address => "address",
            Field::Phone => "phone",
        }
    }

    /// Header aliases, most specific first (compared after [`normalise_header`]).
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::RecordId => &["rid", "id", "record_id", "unique_id", "编号"],
            Field::Name => &[
                "姓名",
                "名字",
                "户主姓名",
                "申请人",
                "权利人",
                "所有人",
                "签署人",
                "name",
                "full_name",
                "xm",
            ],
            Field::FormerName => &["曾用名", "former_name", "alias", "cym"],
            Field::IdNumber => &[
                "身份证号",
                "身份证号码",
                "公民身份号码",
                "公民身份证号",
                "公民身份证号码",
                "身份证件号码",
                "证件号码",
                "证件号",
                "身份证",
                "权利人证件号",
                "权利人证件号码",
                "所有人证件号码",
                "sfzh",
                "id_number",
                "id_no",
                "id_card",
                "idcard",
                "national_id",
            ],
            Field::BirthDate => &[
                "出生日期",
                "出生年月",
                "出生年月日",
                "birth_date",
                "dob",
                "date_of_birth",
                "birthday",
                "csrq",
            ],
            Field::Gender => &["性别", "gender", "sex", "xb"],
            Field::Address => &[
                "住址",
                "地址",
                "户籍地址",
                "家庭住址",
                "现住址",
                "居住地址",
                "坐落",
                "房屋坐落",
                "address",
                "addr",
            ],
            Field::Phone => &[
                "联系电话",
                "手机号",
                "手机号码",
                "电话",
                "电话号码",
                "联系方式",
                "phone",
                "mobile",
                "tel",
                "telephone",
                "lxdh",
            ],
        }
    }

    /// Fallback record-id headers, tried after [`Field::aliases`] found nothing.
    fn fallback_aliases(self) -> &'static [&'static str] {
        match self {
            Field::RecordId => &["记录编号", "记录号", "流水号", "业务编号", "记录id"],
            _ => &[],
        }
    }

    /// Chinese base words that may follow a subject prefix (`申请人` + `姓名`).
    fn prefixed_bases(self) -> &'static [&'static str] {
        match self {
            Field::Name => &["姓名"],
            Field::IdNumber => &[
                "身份证号",
                "身份证号码",
                "公民身份号码",
                "身份证件号码",
                "证件号码",
                "证件号",
            ],
            Field::BirthDate => &["出生日期"],
            Field::Gender => &["性别"],
            Field::Address => &["住址", "地址", "户籍地址"],
            Field::Phone => &["联系电话", "电话", "手机号", "手机号码"],
            Field::RecordId | Field::FormerName => &[],
        }
    }
}

/// Prefixes naming the record's subject. Deliberately short: `配偶姓名` (spouse), `监护人姓名`
/// (guardian) or `经办人电话` (clerk) are someone else's and must not be taken.
const SUBJECT_PREFIXES: [&str; 8] = [
    "申请人",
    "户主",
    "权利人",
    "所有人",
    "当事人",
    "本人",
    "参保人",
    "救助对象",
];

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field name that is not one of [`Field`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown field {input:?}; expected one of record_id, name, former_name, id_number, \
     birth_date, gender, address, phone"
)]
pub struct ParseFieldError {
    /// What was given.
    pub input: String,
}

impl FromStr for Field {
    type Err = ParseFieldError;

    /// Accepts the names of [`Field::as_str`], case-insensitively and with `-` for `_`.
    fn from_str(s: &str) -> Result<Field, ParseFieldError> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == key)
            .ok_or_else(|| ParseFieldError {
                input: s.to_owned(),
            })
    }
}

/// Parses one `--map` argument, `field=column` (the column may contain `=`).
///
/// # Errors
///
/// [`ParseFieldError`] without `=` or for an unknown field name.
///
/// ```
/// use hedui_tabular::{Field, parse_mapping};
/// assert_eq!(parse_mapping("name=申请人姓名"), Ok((Field::Name, "申请人姓名".to_owned())));
/// assert!(parse_mapping("nickname=x").is_err());
/// ```
pub fn parse_mapping(arg: &str) -> Result<(Field, String), ParseFieldError> {
    let Some((field, column)) = arg.split_once('=') else {
        return Err(ParseFieldError {
            input: arg.to_owned(),
        });
    };
    Ok((field.parse()?, column.trim().to_owned()))
}

/// Which column (0-based index into the file's headers) holds each identity field.
///
/// `record_id: None` means the file has no record-id column: use the row's position in the
/// file ([`Table::row_numbers`](crate::Table::row_numbers)) as its id.
///
/// Read just these columns with `read_table(path, Some(&map.columns()))` and look each field
/// up with [`Table::field`](crate::Table::field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    /// The record identifier.
    pub record_id: Option<usize>,
    /// Full name.
    pub name: Option<usize>,
    /// Former name.
    pub former_name: Option<usize>,
    /// ID number.
    pub id_number: Option<usize>,
    /// Birth date.
    pub birth_date: Option<usize>,
    /// Gender.
    pub gender: Option<usize>,
    /// Address.
    pub address: Option<usize>,
    /// Phone.
    pub phone: Option<usize>,
    /// Human-readable explanations of guesses and ambiguities (for logs and `--verbose`).
    pub notes: Vec<String>,
}

impl ColumnMap {
    /// The column of `field`.
    pub fn get(&self, field: Field) -> Option<usize> {
        match field {
            Field::RecordId => self.record_id,
            Field::Name => self.name,
            Field::FormerName => self.former_name,
            Field::IdNumber => self.id_number,
            Field::BirthDate => self.birth_date,
            Field::Gender => self.gender,
            Field::Address => self.address,
            Field::Phone => self.phone,
        }
    }

    fn slot(&mut self, field: Field) -> &mut Option<usize> {
        match field {
            Field::RecordId => &mut self.record_id,
            Field::Name => &mut self.name,
            Field::FormerName => &mut self.former_name,
            Field::IdNumber => &mut self.id_number,
            Field::BirthDate => &mut self.birth_date,
            Field::Gender => &mut self.gender,
            Field::Address => &mut self.address,
            Field::Phone => &mut self.phone,
        }
    }

    /// The recognised fields and their columns, in [`Field::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, usize)> + '_ {
        Field::ALL
            .into_iter()
            .filter_map(|f| self.get(f).map(|c| (f, c)))
    }

    /// The distinct columns used, ascending: the projection to pass to
    /// [`read_table`](crate::read_table).
    pub fn columns(&self) -> Vec<usize> {
        let mut c: Vec<usize> = self.iter().map(|(_, c)| c).collect();
        c.sort_unstable();
        c.dedup();
        c
    }
}

/// Normalises a header for comparison; see the [crate docs](crate#recognising-identity-columns).
///
/// ```
/// use hedui_tabular::normalise_header;
/// assert_eq!(normalise_header(" ID_Number "), "idnumber");
/// assert_eq!(normalise_header("*身份证号码（18位）"), "身份证号码");
/// assert_eq!(normalise_header("姓\u{3000}名"), "姓名");
/// assert_eq!(normalise_header("ＮＡＭＥ"), "name");
/// ```
pub fn normalise_header(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut depth = 0u32;
    for c in header.chars() {
        // Full-width ASCII (！ to ～) to half-width.
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        match c {
            '(' | '[' | '【' | '〔' => depth += 1,
            ')' | ']' | '】' | '〕' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '_' | '-' | '.' | '*' | ':' | '：' | '\u{FEFF}' => {}
            c if c.is_whitespace() => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Recognises the identity columns of `headers` (from the file at `path`, which errors name).
///
/// - `overrides` (`--map field=column`) win, then `id_column` (`--id-column`) for the record
///   id; a named column that does not exist is [`Error::UnknownColumn`]. Column names match
///   exactly, or else after [`normalise_header`].
/// - The other fields are recognised from their aliases (see the [crate docs](crate#recognising-identity-columns)).
/// - Without a name *and* without an ID-number column the file cannot be linked:
///   [`Error::NoIdentityColumn`], listing the headers found.
///
/// # Errors
///
/// [`Error::UnknownColumn`] for an override or id column not in `headers`;
/// [`Error::NoIdentityColumn`] as above. Both name `path` and list the headers.
///
/// ```
/// use std::path::Path;
/// use hedui_tabular::{Field, recognise};
/// let headers: Vec<String> = ["编号", "姓 名", "公民身份号码", "性别", "联系电话"]
///     .map(String::from).to_vec();
/// let map = recognise(Path::new("a.csv"), &headers, &[], None)?;
/// assert_eq!(map.record_id, Some(0));
/// assert_eq!(map.name, Some(1));
/// assert_eq!(map.id_number, Some(2));
/// assert_eq!(map.phone, Some(4));
/// let map = recognise(Path::new("a.csv"), &headers, &[(Field::Phone, "性别".into())], None)?;
/// assert_eq!(map.phone, Some(3));
/// assert_eq!(map.gender, None);
/// # Ok::<(), hedui_tabular::Error>(())
/// ```
pub fn recognise(
    path: &Path,
    headers: &[String],
    overrides: &[(Field, String)],
    id_column: Option<&str>,
) -> Result<ColumnMap, Error> {
    let normalised: Vec<String> = headers.iter().map(|h| normalise_header(h)).collect();
    let mut map = ColumnMap::default();
    let mut taken = vec![false; headers.len()];

    let find = |field: Field, column: &str| -> Result<usize, Error> {
        let wanted = column.trim();
        headers
            .iter()
            .position(|h| h == wanted)
            .or_else(|| {
                let n = normalise_header(wanted);
                (!n.is_empty())
                    .then(|| normalised.iter().position(|h| *h == n))
                    .flatten()
            })
            .ok_or_else(|| Error::UnknownColumn {
                path: path.to_owned(),
                field,
                column: column.to_owned(),
                headers: headers.to_vec(),
            })
    };
    let explicit = id_column
        .map(|c| (Field::RecordId, c))
        .into_iter()
        .chain(overrides.iter().map(|(f, c)| (*f, c.as_str())));
    for (field, column) in explicit {
        let c = find(field, column)?;
        if let Some(old) = map.slot(field).replace(c)
            && old != c
        {
            taken[old] = false;
            map.notes.push(format!(
                "{field}: {:?} replaces {:?} (the later override wins)",
                headers[c], headers[old]
            ));
        }
        taken[c] = true;
    }

    const ORDER: [Field; 8] = [
        Field::IdNumber,
        Field::Name,
        Field::FormerName,
        Field::BirthDate,
        Field::Gender,
        Field::Phone,
        Field::Address,
        Field::RecordId,
    ];
    for field in ORDER {
        if map.get(field).is_some() {
            continue;
        }
        let exact = |aliases: &[&str]| -> Vec<usize> {
            let mut hits = Vec::new();
            for alias in aliases {
                let a = normalise_header(alias);
                for (i, h) in normalised.iter().enumerate() {
                    if !taken[i] && *h == a && !hits.contains(&i) {
                        hits.push(i);
                    }
                }
            }
            hits
        };
        let mut hits = exact(field.aliases());
        let mut how = "";
        if hits.is_empty() {
            hits = exact(field.fallback_aliases());
        }
        if hits.is_empty() && field == Field::RecordId {
            // Department exports name their key `<thing>编号`, `…流水号` or `…账号`
            // (成员编号, 待遇编号, 住院流水号, 个人账号); the first such column is the record's own
            // key in every export we know (foreign keys such as 家庭编号 come after it).
            if let Some(i) = normalised.iter().enumerate().position(|(i, h)| {
                !taken[i]
                    && ["编号", "流水号", "账号"]
                        .iter()
                        .any(|suffix| h.ends_with(suffix))
            }) {
                hits.push(i);
                how = " (guessed from the header's ending)";
            }
        }
        if hits.is_empty() {
            for (i, h) in normalised.iter().enumerate() {
                if taken[i] {
                    continue;
                }
                let prefixed = SUBJECT_PREFIXES.iter().any(|p| {
                    h.strip_prefix(p)
                        .is_some_and(|rest| field.prefixed_bases().contains(&rest))
                });
                if prefixed {
                    hits.push(i);
                }
            }
            how = " (a subject-prefixed header)";
        }
        let Some(&chosen) = hits.first() else {
            continue;
        };
        if hits.len() > 1 {
            let others: Vec<String> = hits[1..]
                .iter()
                .map(|&i| format!("{:?}", headers[i]))
                .collect();
            map.notes.push(format!(
                "{field}: using {:?}{how}; also possible: {} (choose with --map {field}=COLUMN)",
                headers[chosen],
                others.join(", ")
            ));
        } else if !how.is_empty() {
            map.notes
                .push(format!("{field}: using {:?}{how}", headers[chosen]));
        }
        *map.slot(field) = Some(chosen);
        taken[chosen] = true;
    }

    if map.name.is_none() && map.id_number.is_none() {
        return Err(Error::NoIdentityColumn {
            path: path.to_owned(),
            headers: headers.to_vec(),
        });
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn map(names: &[&str]) -> ColumnMap {
        recognise(Path::new("t.csv"), &h(names), &[], None).expect("recognised")
    }

    #[test]
    fn field_names_parse() {
        for f in Field::ALL {
            assert_eq!(f.as_str().parse::<Field>(), Ok(f));
            assert_eq!(f.to_string().to_uppercase().parse::<Field>(), Ok(f));
        }
        assert_eq!("id-number".parse::<Field>(), Ok(Field::IdNumber));
        assert!("surname".parse::<Field>().is_err());
        assert!(parse_mapping("name").is_err());
        assert_eq!(
            parse_mapping(" gender = 性 别 "),
            Ok((Field::Gender, "性 别".to_owned()))
        );
    }

    /// (headers, field, expected column) — one line per recognised header style.
    #[test]
    fn recognition_table() {
        let cases: &[(&[&str], Field, Option<usize>)] = &[
            (&["姓名", "身份证号"], Field::Name, Some(0)),
            (&["姓名", "身份证号"], Field::IdNumber, Some(1)),
            (&["名字", "身份证号码"], Field::IdNumber, Some(1)),
            (&["户主姓名", "公民身份号码"], Field::Name, Some(0)),
            (&["申请人", "证件号码"], Field::Name, Some(0)),
            (&["权利人", "权利人证件号"], Field::IdNumber, Some(1)),
            (&["所有人", "所有人证件号码"], Field::IdNumber, Some(1)),
            (&["签署人", "身份证件号码"], Field::Name, Some(0)),
            (
                &["xm", "sfzh", "xb", "csrq", "lxdh"],
                Field::Gender,
                Some(2),
            ),
            (
                &["xm", "sfzh", "xb", "csrq", "lxdh"],
                Field::BirthDate,
                Some(3),
            ),
            (&["xm", "sfzh", "xb", "csrq", "lxdh"], Field::Phone, Some(4)),
            (&["Name", "ID Number"], Field::IdNumber, Some(1)),
            (&["FULL_NAME", "national_id"], Field::Name, Some(0)),
            (&["name", "id_card", "sex"], Field::Gender, Some(2)),
            (&["name", "idcard", "DOB"], Field::BirthDate, Some(2)),
            (&["name", "date of birth"], Field::BirthDate, Some(1)),
            (&["name", "Birth_Date"], Field::BirthDate, Some(1)),
            (&["name", "出生年月"], Field::BirthDate, Some(1)),
            (&["name", "address"], Field::Address, Some(1)),
            (&["姓名", "家庭住址"], Field::Address, Some(1)),
            (&["权利人", "坐落"], Field::Address, Some(1)),
            (&["姓名", "户籍地址"], Field::Address, Some(1)),
            (&["name", "addr"], Field::Address, Some(1)),
            (&["姓名", "手机号码"], Field::Phone, Some(1)),
            (&["姓名", "电话"], Field::Phone, Some(1)),
            (&["name", "mobile"], Field::Phone, Some(1)),
            (&["name", "tel"], Field::Phone, Some(1)),
            (&["姓名", "曾用名"], Field::FormerName, Some(1)),
            (&["name", "former_name"], Field::FormerName, Some(1)),
            (&["name", "alias"], Field::FormerName, Some(1)),
            // Record ids: DESIGN.md's order, then Chinese fallbacks.
            (&["id", "rid", "姓名"], Field::RecordId, Some(1)),
            (&["姓名", "ID"], Field::RecordId, Some(1)),
            (&["姓名", "record_id"], Field::RecordId, Some(1)),
            (&["姓名", "unique_id"], Field::RecordId, Some(1)),
            (&["编号", "姓名"], Field::RecordId, Some(0)),
            (&["流水号", "姓名"], Field::RecordId, Some(0)),
            (&["记录编号", "姓名"], Field::RecordId, Some(0)),
            (&["姓名", "身份证号"], Field::RecordId, None),
            // Normalisation: spaces, full-width, remarks, required-markers.
            (&["姓 名", "身份证号"], Field::Name, Some(0)),
            (&["*姓名", "身份证号（18位）"], Field::IdNumber, Some(1)),
            (&["ＮＡＭＥ", "x"], Field::Name, Some(0)),
            // The earlier alias wins over the leftmost column.
            (&["户主姓名", "姓名"], Field::Name, Some(1)),
            // Subject-prefixed Chinese headers.
            (&["申请人姓名", "申请人身份证号"], Field::Name, Some(0)),
            (&["申请人姓名", "申请人身份证号"], Field::IdNumber, Some(1)),
            (&["户主姓名", "户主身份证号码"], Field::IdNumber, Some(1)),
            // Somebody else's name is not the subject's.
            (&["配偶姓名", "身份证号"], Field::Name, None),
            (&["姓名", "监护人电话"], Field::Phone, None),
        ];
        for (headers, field, want) in cases {
            assert_eq!(map(headers).get(*field), *want, "{headers:?} {field}");
        }
    }

    #[test]
    fn overrides_and_id_column_win() {
        let headers = h(&["编号", "姓名", "证件号", "备注", "序号"]);
        let p = Path::new("t.csv");
        let m = recognise(
            p,
            &headers,
            &[(Field::Name, "备注".to_owned())],
            Some("序号"),
        )
        .expect("recognised");
        assert_eq!(m.name, Some(3));
        assert_eq!(m.record_id, Some(4));
        assert_eq!(m.id_number, Some(2));
        // The override's column is not reused; the displaced 姓名 is free but no other
        // field wants it.
        assert_eq!(m.columns(), vec![2, 3, 4]);
        // Normalised match for an override.
        let m = recognise(p, &headers, &[(Field::Phone, " 备 注 ".to_owned())], None)
            .expect("recognised");
        assert_eq!(m.phone, Some(3));
        let err = recognise(p, &headers, &[(Field::Gender, "xingbie".to_owned())], None)
            .expect_err("unknown column");
        assert!(matches!(
            err,
            Error::UnknownColumn {
                field: Field::Gender,
                ..
            }
        ));
        assert!(err.to_string().contains("xingbie"), "{err}");
        let err = recognise(p, &headers, &[], Some("rowid")).expect_err("unknown id column");
        assert!(matches!(
            err,
            Error::UnknownColumn {
                field: Field::RecordId,
                ..
            }
        ));
    }

    #[test]
    fn ambiguity_is_noted() {
        let m = map(&["申请人姓名", "户主姓名", "权利人姓名"]);
        assert_eq!(m.name, Some(1));
        let m = map(&["申请人姓名", "权利人姓名"]);
        assert_eq!(m.name, Some(0));
        assert!(
            m.notes.iter().any(|n| n.contains("权利人姓名")),
            "{:?}",
            m.notes
        );
    }

    #[test]
    fn no_identity_column_names_the_file_and_headers() {
        let err = recognise(
            Path::new("/data/低保名单.csv"),
            &h(&["序号", "金额", "备注"]),
            &[],
            None,
        )
        .expect_err("no identity column");
        let msg = err.to_string();
        assert!(msg.contains("/data/低保名单.csv"), "{msg}");
        assert!(msg.contains("\"序号\", \"金额\", \"备注\""), "{msg}");
        assert!(msg.contains("--map"), "{msg}");
        assert_eq!(err.fault(), crate::Fault::Data);
    }
}
