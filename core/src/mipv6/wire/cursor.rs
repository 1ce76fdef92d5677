//! Bounds-checked output cursor shared by every emit path.
//!
//! The same code computes an encoding's length (no buffer) and writes it
//! (with a buffer), so the two can never disagree about alignment padding.

use super::error::WireError;

/// Writes sequentially into an optional buffer; without one it only counts.
pub(crate) struct Cursor<'a> {
    buf: Option<&'a mut [u8]>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor that only measures.
    pub(crate) fn counting() -> Cursor<'static> {
        Cursor { buf: None, pos: 0 }
    }

    /// A cursor that writes into `buf` from its first octet.
    pub(crate) fn writing(buf: &'a mut [u8]) -> Self {
        Cursor {
            buf: Some(buf),
            pos: 0,
        }
    }

    /// Octets written (or counted) so far; also the offset from the start
    /// of the Mobility Header, which alignment is measured against.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Appends `bytes`.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let end = self.pos + bytes.len();
        if let Some(buf) = self.buf.as_deref_mut() {
            let available = buf.len();
            let dst = buf
                .get_mut(self.pos..end)
                .ok_or(WireError::BufferTooSmall {
                    needed: end,
                    available,
                })?;
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
        Ok(())
    }

    pub(crate) fn put_u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&[v])
    }

    pub(crate) fn put_u16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    pub(crate) fn put_u32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    pub(crate) fn put_zeros(&mut self, n: usize) -> Result<(), WireError> {
        const ZEROS: [u8; 8] = [0; 8];
        let mut left = n;
        while left > 0 {
            let k = left.min(ZEROS.len());
            self.put(&ZEROS[..k])?;
            left -= k;
        }
        Ok(())
    }

    /// Overwrites one already-written octet (a length field known only
    /// after its contents were emitted). Counting cursors ignore it.
    pub(crate) fn patch_u8(&mut self, at: usize, v: u8) -> Result<(), WireError> {
        if let Some(buf) = self.buf.as_deref_mut() {
            let available = buf.len();
            *buf.get_mut(at).ok_or(WireError::BufferTooSmall {
                needed: at + 1,
                available,
            })? = v;
        }
        Ok(())
    }
}

/// Octets of padding that bring `pos` to `align * n + offset`.
pub(crate) fn pad_to(pos: usize, align: usize, offset: usize) -> usize {
    debug_assert!(align.is_power_of_two() && offset < align);
    (offset.wrapping_sub(pos)) & (align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_to_examples() {
        assert_eq!(pad_to(12, 8, 6), 2);
        assert_eq!(pad_to(14, 8, 6), 0);
        assert_eq!(pad_to(15, 8, 6), 7);
        assert_eq!(pad_to(12, 8, 2), 6);
        assert_eq!(pad_to(13, 2, 0), 1);
        assert_eq!(pad_to(13, 1, 0), 0);
        assert_eq!(pad_to(12, 4, 1), 1);
    }

    #[test]
    fn writing_checks_bounds() {
        let mut b = [0u8; 3];
        let mut c = Cursor::writing(&mut b);
        c.put_u16(0x0102).unwrap();
        assert_eq!(
            c.put_u16(0x0304),
            Err(WireError::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
        c.patch_u8(0, 9).unwrap();
        assert!(c.patch_u8(3, 9).is_err());
        assert_eq!(b, [9, 2, 0]);
        let mut n = Cursor::counting();
        n.put_zeros(19).unwrap();
        assert_eq!(n.pos(), 19);
    }
}
