// Re-exported: `JSON` is part of PPIPP's public face (messages, hub records), so its users need not import PPJSON.
@_exported import PPJSON

/// Jupyter messages and hub records use the one JSON layer (PPJSON): `JSON` is its `JSONValue`.
/// Whole numbers and sorted keys make equal values give equal bytes, which message signatures need.
public typealias JSON = JSONValue
