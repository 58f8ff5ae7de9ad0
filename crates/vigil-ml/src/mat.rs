//! A reader of MATLAB v5 `.mat` files, as far as the ODDS benchmark sets need: numeric matrices
//! (real, any numeric storage type), in zlib-compressed elements or not, little-endian. Each
//! variable comes back by name as a row-major [`Matrix`] of f64.

use crate::{Error, Matrix};
use std::io::Read;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// Every numeric variable of the file at `path`, by name.
pub fn read(path: &std::path::Path) -> Result<Vec<(String, Matrix)>, Error> {
    let bytes = std::fs::read(path)?;
    parse(&bytes).map_err(|e| Error::Mat(format!("{}: {e}", path.display())))
}

/// The variables of a MAT v5 file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Vec<(String, Matrix)>, String> {
    if bytes.len() < 128 || !bytes.starts_with(b"MATLAB 5.0 MAT-file") {
        return Err("not a MATLAB 5.0 MAT-file (v7.3 files are HDF5: save with -v7)".into());
    }
    if &bytes[126..128] != b"IM" {
        return Err("a big-endian MAT-file: not read".into());
    }
    let mut out = Vec::new();
    elements(&bytes[128..], &mut out, 0)?;
    Ok(out)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]])).ok_or_else(|| format!("cut short at byte {at}"))
}

/// An element's tag: (type, size, header length). The small form packs a size of at most 4 in
/// the tag's upper half.
fn tag(b: &[u8], at: usize) -> Result<(u32, usize, usize), String> {
    let first = u32_at(b, at)?;
    if first >> 16 != 0 {
        Ok((first & 0xffff, (first >> 16) as usize, 4))
    } else {
        Ok((first, u32_at(b, at + 4)? as usize, 8))
    }
}

fn elements(b: &[u8], out: &mut Vec<(String, Matrix)>, nesting: usize) -> Result<(), String> {
    if nesting > 4 {
        return Err("compressed elements nested too deep".into());
    }
    let mut at = 0;
    while at + 8 <= b.len() {
        let (ty, size, head) = tag(b, at)?;
        let start = at + head;
        let data = b.get(start..start + size).ok_or_else(|| format!("an element of {size} bytes at byte {at} runs past the end"))?;
        match ty {
            MI_COMPRESSED => {
                let mut plain = Vec::new();
                flate2::read::ZlibDecoder::new(data).take(1 << 31).read_to_end(&mut plain).map_err(|e| format!("a compressed element at byte {at}: {e}"))?;
                elements(&plain, out, nesting + 1)?;
            }
            MI_MATRIX => {
                if let Some(m) = matrix(data)? {
                    out.push(m);
                }
            }
            _ => {}
        }
        // Compressed elements are not padded; the others to 8 bytes.
        at = if head == 4 {
            at + 8
        } else if ty == MI_COMPRESSED {
            start + size
        } else {
            start + size.next_multiple_of(8)
        };
    }
    Ok(())
}

/// A matrix element's name and values (`None`: not a real numeric array).
fn matrix(b: &[u8]) -> Result<Option<(String, Matrix)>, String> {
    let mut at = 0;
    let mut sub = || -> Result<(u32, &[u8]), String> {
        let (ty, size, head) = tag(b, at)?;
        let data = b.get(at + head..at + head + size).ok_or("a matrix's part runs past its end")?;
        at += if head == 4 { 8 } else { head + size.next_multiple_of(8) };
        Ok((ty, data))
    };
    let (_, flags) = sub()?;
    let class = flags.first().copied().unwrap_or(0);
    let complex = flags.get(1).is_some_and(|f| f & 0x08 != 0);
    // Numeric classes: 6 double … 15 uint64.
    if !(6..=15).contains(&class) || complex {
        return Ok(None);
    }
    let (_, dims) = sub()?;
    let dims: Vec<usize> = dims.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]).max(0) as usize).collect();
    if dims.len() != 2 {
        return Err(format!("a matrix of {} dimensions", dims.len()));
    }
    let (_, name) = sub()?;
    let name = String::from_utf8_lossy(name).into_owned();
    let (ty, raw) = sub()?;
    let values = numbers(ty, raw).ok_or_else(|| format!("{name}: storage type {ty} is not numeric"))?;
    let (rows, cols) = (dims[0], dims[1]);
    if values.len() != rows * cols {
        return Err(format!("{name}: {} values for {rows} × {cols}", values.len()));
    }
    // Column-major in the file; row-major here.
    let mut data = vec![0.0; rows * cols];
    for c in 0..cols {
        for r in 0..rows {
            data[r * cols + c] = values[c * rows + r];
        }
    }
    Ok(Some((name, Matrix { rows, cols, data })))
}

fn numbers(ty: u32, b: &[u8]) -> Option<Vec<f64>> {
    macro_rules! read {
        ($t:ty, $n:expr) => {
            b.chunks_exact($n).map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; $n])) as f64).collect()
        };
    }
    Some(match ty {
        MI_INT8 => b.iter().map(|&x| x as i8 as f64).collect(),
        MI_UINT8 => b.iter().map(|&x| x as f64).collect(),
        MI_INT16 => read!(i16, 2),
        MI_UINT16 => read!(u16, 2),
        MI_INT32 => read!(i32, 4),
        MI_UINT32 => read!(u32, 4),
        MI_SINGLE => read!(f32, 4),
        MI_DOUBLE => read!(f64, 8),
        MI_INT64 => read!(i64, 8),
        MI_UINT64 => read!(u64, 8),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(parse(b"hello").unwrap_err().contains("not a MATLAB 5.0"));
        let mut b = b"MATLAB 5.0 MAT-file".to_vec();
        b.resize(128, b' ');
        b[126..128].copy_from_slice(b"IM");
        // A matrix element claiming more bytes than there are.
        b.extend_from_slice(&14u32.to_le_bytes());
        b.extend_from_slice(&1000u32.to_le_bytes());
        assert!(parse(&b).unwrap_err().contains("runs past the end"));
    }
}
