//! Typed errors of the Mobility Header codec.

/// Why a Mobility Header could not be parsed or emitted.
///
/// Offsets are counted in octets from the first octet of the Mobility
/// Header (the Payload Proto field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than the 8-octet minimum Mobility Header.
    #[error("truncated: {len} octets, a mobility header needs at least 8")]
    Truncated {
        /// Octets present.
        len: usize,
    },
    /// The Header Len field describes more octets than the buffer holds.
    #[error("header length says {declared} octets but only {available} are present")]
    HeaderLenPastBuffer {
        /// `(Header Len + 1) * 8`.
        declared: usize,
        /// Octets present.
        available: usize,
    },
    /// Header Len is smaller than the fixed fields of this MH type
    /// (RFC 6275 §9.2: answer with ICMP Parameter Problem).
    #[error("MH type {mh_type}: {len} octets cannot hold its fixed fields")]
    BadLength {
        /// The MH Type field.
        mh_type: u8,
        /// Mobility Header length in octets.
        len: usize,
    },
    /// Payload Proto is not 59 (IPPROTO_NONE), RFC 6275 §9.2.
    #[error("payload proto {0}, expected 59 (no next header)")]
    BadPayloadProto(u8),
    /// The checksum over the pseudo-header and the Mobility Header is wrong.
    #[error("bad checksum: found {found:#06x}, computed {computed:#06x}")]
    BadChecksum {
        /// Checksum field as received.
        found: u16,
        /// What it should have been.
        computed: u16,
    },
    /// The MH Type is not one of 0..=7; the receiver answers with a
    /// Binding Error, status 2 (RFC 6275 §9.2).
    #[error("unknown MH type {0}")]
    UnknownMessageType(u8),
    /// A mobility option (or flow sub-option) runs past the end of the
    /// area that holds it.
    #[error("option at offset {offset} runs past the end of its area")]
    OptionOverrun {
        /// Offset of the option's type octet.
        offset: usize,
    },
    /// A Pad1/PadN option (or sub-option) is structurally broken: it runs
    /// past the end of its area. On emit: an `Unknown` option or sub-option
    /// claims a padding type.
    #[error("padding at offset {offset} runs past the end of its area")]
    BadPadding {
        /// Offset of the padding's type octet.
        offset: usize,
    },
    /// A known mobility option has a length its format does not allow.
    #[error("option type {option_type} cannot have length {len}")]
    BadOptionLength {
        /// Option Type.
        option_type: u8,
        /// Option Length.
        len: u8,
    },
    /// A known flow identification sub-option has a length its format does
    /// not allow.
    #[error("flow sub-option type {sub_type} cannot have length {len}")]
    BadSubOptionLength {
        /// Sub-Opt Type.
        sub_type: u8,
        /// Sub-Opt Len.
        len: u8,
    },
    /// An authentication option is followed by data it would not cover
    /// (RFC 6275 §6.2: Binding Authorization Data is last, with no trailing
    /// padding; RFC 4285 §5: the authentication option is last).
    #[error("authentication option at offset {offset} is not the last option")]
    AuthNotLast {
        /// Offset of the authentication option's type octet.
        offset: usize,
    },
    /// A binary traffic selector is shorter than its flags require.
    #[error("traffic selector truncated: its flags need {needed} octets, {available} present")]
    TruncatedTrafficSelector {
        /// Octets the present-flags require (flags word included).
        needed: usize,
        /// Octets present.
        available: usize,
    },
    /// A binary traffic selector is malformed in another way.
    #[error("malformed traffic selector: {0}")]
    BadTrafficSelector(&'static str),
    /// Emit: an option's data would exceed the 255 octets its length field
    /// can express.
    #[error("option data of {len} octets exceeds 255")]
    OptionTooLong {
        /// Octets of option data.
        len: usize,
    },
    /// Emit: the Mobility Header would exceed 2048 octets (Header Len 255).
    #[error("mobility header of {len} octets exceeds 2048")]
    MessageTooLong {
        /// Octets needed.
        len: usize,
    },
    /// Emit: the output buffer is too small.
    #[error("buffer of {available} octets, {needed} needed")]
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
}
