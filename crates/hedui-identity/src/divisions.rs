//! The administrative divisions of 随州市 (Suizhou) that hedui serves, and the historical
//! county codes still found in ID numbers issued there.
//!
//! The county-level list is GB/T 2260; the township list is the 统计用区划代码 (9-digit
//! prefix: 6 county + 3 township). Village and community names are not listed here: they are
//! free text in department records and are matched as text.
//!
//! Why a table of our own and not only the `gb2260` crate: that crate's revisions start in 2002
//! and lack the pre-2000 codes (429001 随州市, 420983 广水市 …) that many older residents' ID
//! numbers carry, and it has no township level.

/// Province code of 湖北省.
pub const HUBEI: &str = "420000";
/// Prefecture code of 随州市.
pub const SUIZHOU: &str = "421300";

/// A county-level division of 随州 in force today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct County {
    /// Six-digit GB/T 2260 code.
    pub code: &'static str,
    /// Official name.
    pub name: &'static str,
    /// Short forms seen in addresses (e.g. `曾都`).
    pub short: &'static str,
}

/// A township-level division (街道, 镇, 乡, or a development zone that acts as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Township {
    /// Nine-digit 统计用区划代码 prefix (county code + 3 digits).
    pub code: &'static str,
    /// Official name, e.g. `南郊街道`, `厉山镇`.
    pub name: &'static str,
    /// True for 街道 (urban); towns are mostly rural. Used as the urban/rural default
    /// when a record carries no 城乡属性.
    pub urban: bool,
}

impl Township {
    /// The county this township belongs to.
    pub fn county(&self) -> Option<&'static County> {
        county_by_code(&self.code[..6])
    }

    /// The name without its level suffix (`南郊街道` → `南郊`, `厉山镇` → `厉山`), as clerks
    /// often write it.
    pub fn short_name(&self) -> &'static str {
        for suffix in ["街道办事处", "街道", "镇", "乡", "林场", "风景区", "开发区"]
        {
            if let Some(s) = self.name.strip_suffix(suffix)
                && s.chars().count() >= 2
            {
                return s;
            }
        }
        self.name
    }
}

/// A county code that is no longer in force but still appears as the first six digits of ID
/// numbers first issued in the area (DOMAIN.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoricalCode {
    /// Six-digit code as printed in the ID number.
    pub code: &'static str,
    /// Name of the division at the time.
    pub name: &'static str,
    /// First and last year the code was in force.
    pub years: (u16, u16),
    /// The code of today's division that covers the area.
    pub successor: &'static str,
}

/// The three county-level divisions of 随州 today.
pub const COUNTIES: &[County] = &[
    County {
        code: "421303",
        name: "曾都区",
        short: "曾都",
    },
    County {
        code: "421321",
        name: "随县",
        short: "随县",
    },
    County {
        code: "421381",
        name: "广水市",
        short: "广水",
    },
];

/// Historical codes of the 随州 area (DOMAIN.md §4.2).
pub const HISTORICAL_CODES: &[HistoricalCode] = &[
    HistoricalCode {
        code: "422501",
        name: "随州市",
        years: (1980, 1982),
        successor: "421303",
    },
    HistoricalCode {
        code: "422523",
        name: "随县",
        years: (1980, 1982),
        successor: "421321",
    },
    HistoricalCode {
        code: "420901",
        name: "随州市",
        years: (1983, 1983),
        successor: "421303",
    },
    HistoricalCode {
        code: "429001",
        name: "随州市",
        years: (1984, 1999),
        successor: "421303",
    },
    HistoricalCode {
        code: "422224",
        name: "应山县",
        years: (1980, 1987),
        successor: "421381",
    },
    HistoricalCode {
        code: "422204",
        name: "广水市",
        years: (1988, 1992),
        successor: "421381",
    },
    HistoricalCode {
        code: "429011",
        name: "广水市",
        years: (1993, 1994),
        successor: "421381",
    },
    HistoricalCode {
        code: "420983",
        name: "广水市",
        years: (1995, 1999),
        successor: "421381",
    },
];

macro_rules! towns {
    ($( $code:literal $name:literal $urban:literal ),* $(,)?) => {
        &[ $( Township { code: $code, name: $name, urban: $urban } ),* ]
    };
}

/// Township-level divisions of the three counties.
pub const TOWNSHIPS: &[Township] = towns![
    "421303001" "西城街道" true,
    "421303002" "东城街道" true,
    "421303003" "南郊街道" true,
    "421303004" "北郊街道" true,
    "421303005" "涢水街道" true,
    "421303101" "万店镇" false,
    "421303102" "何店镇" false,
    "421303103" "洛阳镇" false,
    "421303104" "府河镇" false,
    "421303187" "淅河镇" false,
    "421321101" "厉山镇" false,
    "421321102" "高城镇" false,
    "421321103" "殷店镇" false,
    "421321104" "草店镇" false,
    "421321105" "小林镇" false,
    "421321106" "淮河镇" false,
    "421321107" "万和镇" false,
    "421321108" "尚市镇" false,
    "421321109" "唐县镇" false,
    "421321110" "吴山镇" false,
    "421321111" "新街镇" false,
    "421321112" "安居镇" false,
    "421321113" "澴潭镇" false,
    "421321114" "洪山镇" false,
    "421321115" "长岗镇" false,
    "421321116" "三里岗镇" false,
    "421321117" "柳林镇" false,
    "421321118" "均川镇" false,
    "421321119" "万福店镇" false,
    "421381001" "应山街道" true,
    "421381002" "十里街道" true,
    "421381003" "广水街道" true,
    "421381004" "城郊街道" true,
    "421381100" "武胜关镇" false,
    "421381101" "杨寨镇" false,
    "421381102" "陈巷镇" false,
    "421381103" "长岭镇" false,
    "421381104" "马坪镇" false,
    "421381105" "关庙镇" false,
    "421381106" "余店镇" false,
    "421381107" "吴店镇" false,
    "421381108" "郝店镇" false,
    "421381109" "蔡河镇" false,
    "421381110" "李店镇" false,
    "421381111" "太平镇" false,
    "421381112" "骆店镇" false,
];

/// The county with this six-digit code, if it is one of 随州's current counties.
pub fn county_by_code(code: &str) -> Option<&'static County> {
    COUNTIES.iter().find(|c| c.code == code)
}

/// The township with this nine-digit code.
pub fn township_by_code(code: &str) -> Option<&'static Township> {
    TOWNSHIPS.iter().find(|t| t.code == code)
}

/// The townships of one county, in code order.
pub fn townships_of(county_code: &str) -> impl Iterator<Item = &'static Township> + '_ {
    TOWNSHIPS
        .iter()
        .filter(move |t| &t.code[..6] == county_code)
}

/// A historical 随州-area code, if `code` is one.
pub fn historical(code: &str) -> Option<&'static HistoricalCode> {
    HISTORICAL_CODES.iter().find(|h| h.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_township_belongs_to_a_county() {
        for t in TOWNSHIPS {
            assert_eq!(t.code.len(), 9, "{}", t.name);
            assert!(t.county().is_some(), "{}", t.name);
        }
    }

    #[test]
    fn short_names() {
        assert_eq!(
            township_by_code("421303003").map(|t| t.short_name()),
            Some("南郊")
        );
        assert_eq!(
            township_by_code("421321101").map(|t| t.short_name()),
            Some("厉山")
        );
        assert_eq!(
            township_by_code("421321116").map(|t| t.short_name()),
            Some("三里岗")
        );
    }

    #[test]
    fn historical_codes_map_to_current_counties() {
        for h in HISTORICAL_CODES {
            assert!(county_by_code(h.successor).is_some(), "{}", h.code);
        }
        assert_eq!(historical("429001").map(|h| h.name), Some("随州市"));
    }
}
