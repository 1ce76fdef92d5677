#!/usr/bin/env python3
"""Independent test vectors for Gecko's return-routability and MN-HA crypto.

Uses only the Python standard library (hmac, hashlib, ipaddress, struct), so
the values do not depend on the Rust code they check. Run from the repository
root:

    python3 tests/vectors/rr_vectors.py > tests/vectors/rr_vectors.txt

The Rust tests in core/src/mipv6/rr.rs and core/src/mipv6/mn_ha_auth.rs embed
these values, and one of them re-runs this script (when python3 exists) and
compares its output with the committed rr_vectors.txt so drift is caught.

Formulas:
  RFC 6275 5.2.5  home keygen token    = First(64, HMAC_SHA1(Kcn, home address | nonce | 0x00))
                  care-of keygen token = First(64, HMAC_SHA1(Kcn, care-of address | nonce | 0x01))
                  Kbm = SHA1(home keygen token | care-of keygen token)
                  Kbm = SHA1(home keygen token)            (deregistration)
  RFC 6275 6.2.7  Authenticator = First(96, HMAC_SHA1(Kbm, care-of address | correspondent | MH Data))
                  MH Data = the Mobility Header without the Authenticator field,
                  computed as if the Checksum field were zero.
  RFC 4285 5.1    Authentication Data = First(96, HMAC_SHA1(MN-HA key, care-of address | home address | MH Data))
                  MH Data = the Mobility Header up to and including the Mobility SPI field,
                  Checksum field set to zero.
"""

import hashlib
import hmac
import ipaddress
import struct

# ---- fixed inputs (documentation prefix 2001:db8::/32 only) ----

KCN = bytes(range(0x40, 0x54))  # 20 octets
HOME_ADDRESS = ipaddress.IPv6Address("2001:db8:100::1")  # Gecko's G
CARE_OF_ADDRESS = ipaddress.IPv6Address("2001:db8:2::10")  # a server node
CORRESPONDENT = ipaddress.IPv6Address("2001:db8:3::20")  # a client host
HOME_NONCE_INDEX = 0x1234
CARE_OF_NONCE_INDEX = 0x1235
HOME_NONCE = bytes.fromhex("a1a2a3a4a5a6a7a8")
CARE_OF_NONCE = bytes.fromhex("b1b2b3b4b5b6b7b8")
BU_SEQUENCE = 0x0102
CHECKSUM = 0xBEEF  # deliberately nonzero: the MACs must treat it as zero

MN_HA_KEY = bytes(range(0x60, 0x70))  # 16 octets, RFC 4285 5.1
MN_HA_SPI = 0x12345678
TIMESTAMP = (0xE9A1B2C3 << 32) | 0x80000000  # NTP seconds | fraction


def first(bits, data):
    return data[: bits // 8]


def hmac_sha1(key, data):
    return hmac.new(key, data, hashlib.sha1).digest()


def with_header(body):
    """Prefix the 6-octet MH header; Header Len counts 8-octet units after the first 8."""
    total = 6 + len(body)
    assert total % 8 == 0, total
    return struct.pack("!BBBBH", 59, total // 8 - 1, 5, 0, CHECKSUM) + body


def zero_checksum(mh):
    return mh[:4] + b"\x00\x00" + mh[6:]


def build_cn_bu():
    """BU to a correspondent (MH type 5): A flag, Alternate CoA, Nonce Indices, Binding Authorization Data.

    Returns (mh with a zeroed authenticator, offset of the authenticator).
    """
    body = struct.pack("!HHH", BU_SEQUENCE, 0x8000, 0x0040)  # seq, flags (A), lifetime (x4 s)
    body += b"\x01\x00"  # PadN: Alternate CoA wants 8n+6 (offset 14)
    body += b"\x03\x10" + CARE_OF_ADDRESS.packed  # Alternate Care-of Address
    body += struct.pack("!BBHH", 4, 4, HOME_NONCE_INDEX, CARE_OF_NONCE_INDEX)  # Nonce Indices
    body += b"\x01\x02\x00\x00"  # PadN: Binding Authorization Data wants 8n+2 (offset 42)
    body += b"\x05\x0c"  # Binding Authorization Data, 12-octet Authenticator follows
    auth_offset = 6 + len(body)
    body += bytes(12)
    return with_header(body), auth_offset


def build_ha_bu():
    """BU to the home agent (A and H flags): Alternate CoA, Replay Protection, MN-HA Authentication.

    Returns (mh with zeroed authentication data, offset just past the SPI).
    """
    body = struct.pack("!HHH", BU_SEQUENCE, 0xC000, 0x0040)
    body += b"\x01\x00"  # PadN to 8n+6
    body += b"\x03\x10" + CARE_OF_ADDRESS.packed  # Alternate Care-of Address (ends at 32)
    body += b"\x00\x00"  # Pad1 x2: Replay Protection wants 8n+2 (offset 34)
    body += b"\x0a\x08" + struct.pack("!Q", TIMESTAMP)  # Mobility Message Replay Protection
    body += b"\x00"  # Pad1: MN-HA Authentication wants 4n+1 (offset 45)
    body += struct.pack("!BBBI", 9, 5 + 12, 1, MN_HA_SPI)  # type 9, len, subtype 1 (MN-HA), SPI
    spi_end = 6 + len(body)
    body += bytes(12)
    return with_header(body), spi_end


def main():
    home_token = first(64, hmac_sha1(KCN, HOME_ADDRESS.packed + HOME_NONCE + b"\x00"))
    care_of_token = first(64, hmac_sha1(KCN, CARE_OF_ADDRESS.packed + CARE_OF_NONCE + b"\x01"))
    kbm = hashlib.sha1(home_token + care_of_token).digest()
    kbm_dereg = hashlib.sha1(home_token).digest()

    bu, auth_off = build_cn_bu()
    mh_data = zero_checksum(bu[:auth_off])
    authenticator = first(
        96, hmac_sha1(kbm, CARE_OF_ADDRESS.packed + CORRESPONDENT.packed + mh_data)
    )
    bu = bu[:auth_off] + authenticator + bu[auth_off + 12 :]
    # Deregistration: Kbm from the home token alone, and the "care-of address"
    # in the MAC is the home address (RFC 6275 6.2.7), over the same MH bytes.
    authenticator_dereg = first(
        96, hmac_sha1(kbm_dereg, HOME_ADDRESS.packed + CORRESPONDENT.packed + mh_data)
    )

    ha_bu, spi_end = build_ha_bu()
    ha_mh_data = zero_checksum(ha_bu[:spi_end])
    mn_ha_auth = first(
        96, hmac_sha1(MN_HA_KEY, CARE_OF_ADDRESS.packed + HOME_ADDRESS.packed + ha_mh_data)
    )
    ha_bu = ha_bu[:spi_end] + mn_ha_auth + ha_bu[spi_end + 12 :]

    out = [
        "# Generated by tests/vectors/rr_vectors.py (Python stdlib only); do not edit by hand.",
        "# Regenerate: python3 tests/vectors/rr_vectors.py > tests/vectors/rr_vectors.txt",
        "kcn = " + KCN.hex(),
        "home_address = " + str(HOME_ADDRESS),
        "care_of_address = " + str(CARE_OF_ADDRESS),
        "correspondent = " + str(CORRESPONDENT),
        "home_nonce_index = %d" % HOME_NONCE_INDEX,
        "care_of_nonce_index = %d" % CARE_OF_NONCE_INDEX,
        "home_nonce = " + HOME_NONCE.hex(),
        "care_of_nonce = " + CARE_OF_NONCE.hex(),
        "home_keygen_token = " + home_token.hex(),
        "care_of_keygen_token = " + care_of_token.hex(),
        "kbm = " + kbm.hex(),
        "kbm_deregistration = " + kbm_dereg.hex(),
        "cn_bu = " + bu.hex(),
        "cn_bu_authenticator_offset = %d" % auth_off,
        "cn_bu_authenticator = " + authenticator.hex(),
        "cn_bu_authenticator_deregistration = " + authenticator_dereg.hex(),
        "mn_ha_key = " + MN_HA_KEY.hex(),
        "mn_ha_spi = %d" % MN_HA_SPI,
        "timestamp = %016x" % TIMESTAMP,
        "ha_bu = " + ha_bu.hex(),
        "ha_bu_spi_end = %d" % spi_end,
        "mn_ha_authenticator = " + mn_ha_auth.hex(),
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
