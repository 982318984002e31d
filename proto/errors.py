"""Errors of the wire codecs.

    ProtoError
    ├── FramingError          the byte stream is not a frame: the connection must close
    │   ├── FrameSizeError    LEN above the limit or below a TPDU and an MTI
    │   ├── TpduError         the TPDU does not start with 0x60
    │   └── IsoDecodeError    the body is not ISO 8583 under our spec (MTI, bitmap, lengths)
    ├── IsoEncodeError        a message we built does not fit the spec (a programmer error)
    ├── LinkCodecError        an internal link message is malformed or oversize
    │   └── LinkMessageSizeError  its length is over the link's message_size_max
    └── LinkTlsError          a link's certificate, key or CA file is missing or unusable
"""


class ProtoError(Exception):
    pass


class FramingError(ProtoError):
    pass


class FrameSizeError(FramingError):
    pass


class TpduError(FramingError):
    pass


class IsoDecodeError(FramingError):
    pass


class IsoEncodeError(ProtoError):
    pass


class LinkCodecError(ProtoError):
    pass


class LinkMessageSizeError(LinkCodecError):
    pass


class LinkTlsError(ProtoError):
    pass
