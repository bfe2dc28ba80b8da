//! A reader and writer for NumPy `.npy` files that reads what `np.load` reads, by NumPy's rules.
//!
//! Reading ([`read_npy`], [`parse_npy`]) follows `numpy.lib.format.read_array`:
//!
//! - format versions 1.0, 2.0 and 3.0 only (any other major or minor version is an error);
//!   the header is Latin-1 (1.0, 2.0) or UTF-8 (3.0) and at most 10 000 characters
//!   (`np.load`'s default `max_header_size`);
//! - the header is a Python dict literal (single or double quotes, any spacing, trailing
//!   commas, Python 2 `L` suffixes in 1.0/2.0, hex/octal/binary/underscore integers) with
//!   exactly the keys `descr`, `fortran_order` and `shape`; a **repeated key takes its last
//!   value**, as in Python;
//! - `descr` is a byte order `<` (little), `>` (big), `=` or `|` (native; `|` for one-byte
//!   types) or none, followed by `f2`/`f4`/`f8`, `i1`/`i2`/`i4`/`i8`, `u1`/`u2`/`u4`/`u8` or
//!   `b1`, one of the type characters `e f d b B h H i I l L q Q ?`, or (without a byte order)
//!   a name such as `float32` or `uint16`. Every value is
//!   **converted to `f32`**: float16 exactly (NaN payloads kept, as NumPy does), float64 and
//!   32/64-bit integers rounded to the
//!   nearest `f32` (integers above 2^24 lose precision), `bool` as 0/1 (any non-zero byte is
//!   true). Complex, string, object and structured dtypes are errors naming the dtype;
//! - `shape` is a tuple of non-negative integers whose byte size fits an `isize`, else an
//!   error ("array is too big" in NumPy); `fortran_order: True` data is **transposed into
//!   C order**, so the result is always C order;
//! - the data must hold at least `prod(shape) × itemsize` bytes, checked before anything is
//!   allocated; **bytes after the data are ignored**, as `np.load` ignores them.
//!
//! Writing ([`write_npy`]) produces little-endian `float32`, C order, version 1.0 (2.0 when
//! the header does not fit 1.0), padded as `np.save` pads.

use ember_core::{Error, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// `np.load`'s default `max_header_size`.
const MAX_HEADER_CHARS: usize = 10_000;
/// Deepest nesting of brackets in a header (NumPy's headers nest two deep).
const MAX_DEPTH: usize = 32;

/// An array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Values in C order, converted to `f32`.
    pub data: Vec<f32>,
}

/// Reads a file the user named, refusing anything that is not a regular file (a FIFO or a
/// device such as `/dev/zero` would block or never end).
pub(crate) fn read_regular_file(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::format(path, "not a regular file"));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    parse_npy(&read_regular_file(path)?, path)
}

/// Parses `.npy` bytes; `path` is only used in error messages.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    parse(bytes).map_err(|m| Error::format(path, m))
}

// ---------------------------------------------------------------------------------------------
// Header layout.

fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 8 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (missing \\x93NUMPY magic)".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(format!(
                "unsupported .npy format version {major}.{minor} (NumPy reads 1.0, 2.0, 3.0)"
            ));
        }
    };
    let hstart = 8 + len_bytes;
    let len_field = bytes
        .get(8..hstart)
        .ok_or("truncated .npy header (no header length)")?;
    let hlen = len_field
        .iter()
        .rev()
        .fold(0usize, |a, &b| (a << 8) | b as usize);
    let raw = bytes
        .get(hstart..)
        .and_then(|rest| rest.get(..hlen))
        .ok_or_else(|| {
            format!(
                "truncated .npy header: declares {hlen} bytes, {} present",
                bytes.len().saturating_sub(hstart)
            )
        })?;
    let header: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| "version 3.0 header is not UTF-8".to_string())?
            .to_string()
    } else {
        raw.iter().map(|&b| b as char).collect() // Latin-1
    };
    if header.chars().count() > MAX_HEADER_CHARS {
        return Err(format!(
            "header of {} characters is longer than NumPy's limit of {MAX_HEADER_CHARS}",
            header.chars().count()
        ));
    }
    if header.contains('\0') {
        return Err("header contains a NUL byte".into()); // Python refuses such source too
    }
    let (dtype, fortran, shape) = header_fields(&header, major < 3)?;
    let count = element_count(&shape, dtype.size)?;
    let body = &bytes[hstart + hlen..];
    let need = count * dtype.size; // cannot overflow: checked in `element_count`
    if body.len() < need {
        return Err(format!(
            "data has {} bytes, shape {shape:?} of {} needs {need}",
            body.len(),
            dtype.name()
        ));
    }
    let mut data = Vec::with_capacity(count);
    data.extend(
        body[..need]
            .chunks_exact(dtype.size)
            .map(|c| dtype.to_f32(c)),
    );
    if fortran {
        data = fortran_to_c(&shape, &data);
    }
    Ok(NpyArray { shape, data })
}

/// Number of elements, with NumPy's size rule: the byte size over the non-zero dimensions must
/// fit an `isize` even when another dimension is zero.
fn element_count(shape: &[usize], itemsize: usize) -> std::result::Result<usize, String> {
    let too_big = || format!("shape {shape:?} is too big (its byte size overflows)");
    let nonzero = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(itemsize, |a, &d| a.checked_mul(d))
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(too_big)?;
    Ok(if shape.contains(&0) {
        0
    } else {
        nonzero / itemsize
    })
}

/// C-order copy of Fortran-order `data` of `shape`.
fn fortran_to_c(shape: &[usize], data: &[f32]) -> Vec<f32> {
    if shape.len() < 2 || data.is_empty() {
        return data.to_vec();
    }
    // Fortran strides: the first index moves fastest.
    let mut strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        strides[k] = strides[k - 1] * shape[k - 1];
    }
    let mut idx = vec![0usize; shape.len()];
    let mut off = 0usize;
    let mut out = Vec::with_capacity(data.len());
    for _ in 0..data.len() {
        out.push(data[off]);
        // Advance the C-order index (last dimension fastest), keeping `off` in step.
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            off += strides[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= strides[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Dtypes.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Float,
    Int,
    Uint,
    Bool,
}

#[derive(Debug, Clone, Copy)]
struct Dtype {
    kind: Kind,
    size: usize,
    big: bool,
}

impl Dtype {
    fn name(&self) -> String {
        let k = match self.kind {
            Kind::Float => "float",
            Kind::Int => "int",
            Kind::Uint => "uint",
            Kind::Bool => return "bool".into(),
        };
        let order = if self.size == 1 {
            ""
        } else if self.big {
            " big-endian"
        } else {
            " little-endian"
        };
        format!("{k}{}{order}", 8 * self.size)
    }

    fn to_f32(self, c: &[u8]) -> f32 {
        macro_rules! num {
            ($t:ty) => {{
                let b = c.try_into().unwrap_or_default();
                if self.big {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                }
            }};
        }
        match (self.kind, self.size) {
            (Kind::Float, 2) => f16_to_f32(num!(u16)),
            (Kind::Float, 4) => num!(f32),
            (Kind::Float, _) => num!(f64) as f32,
            (Kind::Int, 1) => c[0] as i8 as f32,
            (Kind::Int, 2) => num!(i16) as f32,
            (Kind::Int, 4) => num!(i32) as f32,
            (Kind::Int, _) => num!(i64) as f32,
            (Kind::Uint, 1) => c[0] as f32,
            (Kind::Uint, 2) => num!(u16) as f32,
            (Kind::Uint, 4) => num!(u32) as f32,
            (Kind::Uint, _) => num!(u64) as f32,
            (Kind::Bool, _) => (c[0] != 0) as u8 as f32,
        }
    }
}

/// IEEE half precision to `f32`, exactly, NaN payloads kept (NumPy's `npy_half_to_float`).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let man = u32::from(h & 0x03ff);
    match h & 0x7c00 {
        // zero or subnormal: man · 2^-24, exact in f32
        0 => {
            let v = man as f32 * f32::from_bits(0x3380_0000);
            f32::from_bits(v.to_bits() | sign)
        }
        0x7c00 => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((u32::from(h & 0x7fff) + 0x1_c000) << 13)),
    }
}

/// A `descr` string as `np.dtype` reads it, for the dtypes ember converts.
fn parse_descr(descr: &str) -> std::result::Result<Dtype, String> {
    let unsupported = || {
        format!(
            "unsupported dtype {descr:?} (ember reads float16/32/64, signed and unsigned \
             8–64-bit integers and bool, as f32)"
        )
    };
    let (order, rest) = match descr.chars().next() {
        Some(o @ ('<' | '>' | '=' | '|')) => (o, &descr[1..]),
        _ => ('=', descr),
    };
    // Type names, native byte order; NumPy refuses them after a byte-order character.
    let named = match descr {
        "bool" => Some((Kind::Bool, 1)),
        "float16" | "half" => Some((Kind::Float, 2)),
        "float32" | "single" => Some((Kind::Float, 4)),
        "float64" | "double" | "float" => Some((Kind::Float, 8)),
        "int8" => Some((Kind::Int, 1)),
        "int16" => Some((Kind::Int, 2)),
        "int32" => Some((Kind::Int, 4)),
        "int64" | "int" => Some((Kind::Int, 8)),
        "uint8" => Some((Kind::Uint, 1)),
        "uint16" => Some((Kind::Uint, 2)),
        "uint32" => Some((Kind::Uint, 4)),
        "uint64" => Some((Kind::Uint, 8)),
        _ => None,
    };
    let (kind, size) = if let Some(n) = named {
        n
    } else {
        match rest {
            "?" | "b1" => (Kind::Bool, 1),
            "e" => (Kind::Float, 2),
            "f" => (Kind::Float, 4),
            "d" => (Kind::Float, 8),
            "b" => (Kind::Int, 1),
            "B" => (Kind::Uint, 1),
            "h" => (Kind::Int, 2),
            "H" => (Kind::Uint, 2),
            "i" => (Kind::Int, 4),
            "I" => (Kind::Uint, 4),
            "l" | "q" => (Kind::Int, 8),
            "L" | "Q" => (Kind::Uint, 8),
            _ => {
                let mut chars = rest.chars();
                let (k, n) = (chars.next(), chars.as_str());
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(unsupported());
                }
                let size: usize = n.parse().map_err(|_| unsupported())?;
                let kind = match (k, size) {
                    (Some('f'), 2 | 4 | 8) => Kind::Float,
                    (Some('i'), 1 | 2 | 4 | 8) => Kind::Int,
                    (Some('u'), 1 | 2 | 4 | 8) => Kind::Uint,
                    _ => return Err(unsupported()),
                };
                (kind, size)
            }
        }
    };
    let big = match order {
        '>' => true,
        '<' => false,
        _ => cfg!(target_endian = "big"),
    };
    Ok(Dtype { kind, size, big })
}

// ---------------------------------------------------------------------------------------------
// The header dict: the subset of Python literals `ast.literal_eval` accepts that a `.npy`
// header can meaningfully contain.

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

impl Lit {
    fn describe(&self) -> String {
        match self {
            Lit::Str(s) => format!("{s:?}"),
            Lit::Int(i) => i.to_string(),
            Lit::Bool(b) => if *b { "True" } else { "False" }.into(),
            Lit::None => "None".into(),
            Lit::Tuple(_) => "a tuple".into(),
            Lit::List(_) => "a list".into(),
            Lit::Dict(_) => "a dict".into(),
        }
    }
}

/// `(dtype, fortran_order, shape)` of a header, with Python's last-duplicate-wins dict rule.
fn header_fields(
    header: &str,
    py2_long: bool,
) -> std::result::Result<(Dtype, bool, Vec<usize>), String> {
    let mut p = Lexer {
        s: header.as_bytes(),
        at: 0,
        py2_long,
    };
    let lit = p.value(0)?;
    p.skip_space();
    if p.at != p.s.len() {
        return Err(format!(
            "cannot parse header: unexpected text at byte {} of {header:?}",
            p.at
        ));
    }
    let Lit::Dict(items) = lit else {
        return Err(format!("header is not a dictionary: {}", lit.describe()));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    let mut keys = Vec::new();
    for (k, v) in items {
        match &k {
            Lit::Str(s) if s == "descr" => descr = Some(v),
            Lit::Str(s) if s == "fortran_order" => fortran = Some(v),
            Lit::Str(s) if s == "shape" => shape = Some(v),
            other => keys.push(other.describe()),
        }
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err("header does not have the keys 'descr', 'fortran_order' and 'shape'".into());
    };
    if !keys.is_empty() {
        return Err(format!("header has unexpected keys {}", keys.join(", ")));
    }
    let dtype = match &descr {
        Lit::Str(s) => parse_descr(s)?,
        Lit::List(_) | Lit::Tuple(_) => {
            return Err("unsupported dtype: structured arrays are not read".into());
        }
        other => return Err(format!("descr is not a valid dtype: {}", other.describe())),
    };
    let Lit::Bool(fortran) = fortran else {
        return Err(format!(
            "fortran_order is not True or False: {}",
            fortran.describe()
        ));
    };
    let Lit::Tuple(dims) = shape else {
        return Err(format!("shape is not a tuple: {}", shape.describe()));
    };
    let shape = dims
        .iter()
        .map(|d| match d {
            Lit::Int(i) if *i >= 0 => {
                usize::try_from(*i).map_err(|_| format!("dimension {i} is too big"))
            }
            Lit::Int(i) => Err(format!("shape has a negative dimension {i}")),
            other => Err(format!(
                "shape has a dimension that is not an integer: {}",
                other.describe()
            )),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((dtype, fortran, shape))
}

struct Lexer<'a> {
    s: &'a [u8],
    at: usize,
    py2_long: bool,
}

impl Lexer<'_> {
    fn err<T>(&self, what: &str) -> std::result::Result<T, String> {
        Err(format!("cannot parse header: {what} at byte {}", self.at))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.at += 1,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n' && c != b'\r') {
                        self.at += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Consumes `c` after optional space if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Lit, String> {
        if depth > MAX_DEPTH {
            return self.err("brackets nested too deeply");
        }
        self.skip_space();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(b'}') {
                        break;
                    }
                    let k = self.value(depth + 1)?;
                    if !self.eat(b':') {
                        return self.err("expected ':'");
                    }
                    items.push((k, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        break;
                    } else if !self.eat(b',') {
                        return self.err("expected ',' or '}'");
                    }
                }
                Ok(Lit::Dict(items))
            }
            Some(open @ (b'(' | b'[')) => {
                self.at += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut comma = false;
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    if self.eat(close) {
                        break;
                    } else if !self.eat(b',') {
                        return self.err("expected ',' or a closing bracket");
                    }
                    comma = true;
                }
                Ok(match (open, items.len(), comma) {
                    // `(x)` is just `x`; `(x,)` and `()` are tuples.
                    (b'(', 1, false) => items.pop().unwrap_or(Lit::None),
                    (b'(', ..) => Lit::Tuple(items),
                    _ => Lit::List(items),
                })
            }
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'+' | b'-') => {
                let neg = self.peek() == Some(b'-');
                self.at += 1;
                self.skip_space();
                match self.int()? {
                    Lit::Int(i) if neg => Ok(Lit::Int(-i)),
                    lit => Ok(lit),
                }
            }
            Some(b'0'..=b'9') => self.int(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.at += 1;
                }
                match &self.s[start..self.at] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    b"None" => Ok(Lit::None),
                    _ => {
                        self.at = start;
                        self.err("a name is not a literal")
                    }
                }
            }
            _ => self.err("expected a literal"),
        }
    }

    fn string(&mut self, q: u8) -> std::result::Result<Lit, String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\n') => return self.err("unterminated string"),
                Some(c) if c == q => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    match self.s.get(self.at + 1) {
                        Some(&c @ (b'\\' | b'\'' | b'"')) => out.push(c),
                        _ => return self.err("unsupported escape in a string"),
                    }
                    self.at += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
        // Bytes of one valid `&str` cut at ASCII quotes and backslashes: still valid UTF-8.
        Ok(Lit::Str(String::from_utf8_lossy(&out).into_owned()))
    }

    /// A Python integer literal: decimal, `0x`/`0o`/`0b`, `_` between digits, and in 1.0/2.0
    /// headers a Python 2 `L` suffix.
    fn int(&mut self) -> std::result::Result<Lit, String> {
        let start = self.at;
        let radix = match (
            self.peek(),
            self.s.get(self.at + 1).map(u8::to_ascii_lowercase),
        ) {
            (Some(b'0'), Some(b'x')) => 16,
            (Some(b'0'), Some(b'o')) => 8,
            (Some(b'0'), Some(b'b')) => 2,
            _ => 10,
        };
        if radix != 10 {
            self.at += 2;
        }
        let mut v: i128 = 0;
        let mut digits = 0;
        // Python: `_` only between digits (or right after `0x`/`0o`/`0b`), never doubled or last.
        let mut underscore_ok = radix != 10;
        let mut last_underscore = false;
        let mut leading_zero = false;
        while let Some(c) = self.peek() {
            if c == b'_' && underscore_ok {
                underscore_ok = false;
                last_underscore = true;
                self.at += 1;
                continue;
            }
            let Some(d) = (c as char).to_digit(radix) else {
                break;
            };
            if radix == 10 && digits == 0 && d == 0 {
                leading_zero = true;
            } else if leading_zero && d != 0 {
                return self.err("leading zeros in a decimal integer");
            }
            v = v
                .checked_mul(radix as i128)
                .and_then(|v| v.checked_add(d as i128))
                .ok_or_else(|| {
                    format!("cannot parse header: integer at byte {start} is too large")
                })?;
            digits += 1;
            underscore_ok = true;
            last_underscore = false;
            self.at += 1;
        }
        if digits == 0 || last_underscore {
            return self.err("malformed integer");
        }
        if self.py2_long && self.peek() == Some(b'L') {
            self.at += 1;
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
        {
            return self.err("not an integer (floats and other numbers are not dimensions)");
        }
        Ok(Lit::Int(v))
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Writes `data` with `shape` as a little-endian float32 `.npy` file (C order, version 1.0,
/// or 2.0 when the header is longer than 1.0 allows).
pub fn write_npy(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<()> {
    let path = path.as_ref();
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count != Some(data.len()) {
        return Err(Error::Shape(format!(
            "shape {shape:?} holds {} values, got {}",
            count.map_or("too many".to_string(), |c| c.to_string()),
            data.len()
        )));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_s}, }}");
    let mut out = Vec::with_capacity(128 + header.len() + 4 * data.len());
    out.extend_from_slice(MAGIC);
    // Version 1.0 stores the header length in 2 bytes, 2.0 in 4.
    let v1_len = padded(&header, 10).len();
    if let Ok(n) = u16::try_from(v1_len) {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(padded(&header, 10).as_bytes());
    } else {
        let h = padded(&header, 12);
        let n = u32::try_from(h.len())
            .map_err(|_| Error::Shape(format!("shape {shape:?} has too many dimensions")))?;
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(h.as_bytes());
    }
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).map_err(|e| Error::io(path, e))
}

/// `header` padded with spaces and a newline so the data starts at a multiple of 64 bytes
/// after a `prefix`-byte preamble, as `np.save` pads.
fn padded(header: &str, prefix: usize) -> String {
    let total = prefix + header.len() + 1;
    format!("{header}{}\n", " ".repeat((64 - total % 64) % 64))
}
