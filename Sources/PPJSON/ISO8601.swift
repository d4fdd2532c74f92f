// ISO 8601 instants, written and parsed side by side: the journal, --json and Jupyter messages all use these two.

/// ISO 8601 in UTC with microseconds (`2026-11-29T10:12:20.123456Z`), for instants held as microseconds since the
/// Unix epoch.
public enum ISO8601 {
    /// Appends `2026-11-29T10:12:20.123456Z` (27 bytes) to `out`, without allocating.
    @inlinable
    public static func write(microseconds: Int64, to out: inout [UInt8]) {
        var secs = microseconds / 1_000_000
        var micros = Int(microseconds % 1_000_000)
        if micros < 0 {
            micros += 1_000_000
            secs -= 1
        }
        var days = secs / 86_400
        var rem = Int(secs - days * 86_400)
        if rem < 0 {
            rem += 86_400
            days -= 1
        }
        let (y, m, d) = civil(fromDays: Int(days))
        digits(y, 4, &out)
        out.append(0x2D)
        digits(m, 2, &out)
        out.append(0x2D)
        digits(d, 2, &out)
        out.append(0x54)
        digits(rem / 3600, 2, &out)
        out.append(0x3A)
        digits(rem / 60 % 60, 2, &out)
        out.append(0x3A)
        digits(rem % 60, 2, &out)
        out.append(0x2E)
        digits(micros, 6, &out)
        out.append(0x5A)
    }

    /// The text `write` appends.
    public static func string(microseconds: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(27)
        write(microseconds: microseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses what `write` writes and the forms Python's `isoformat` gives: 0 to 9 fraction digits (beyond 6
    /// truncated), `Z`, `+HH:MM`/`-HHMM`/`+HH` offsets, a space instead of `T`, or no zone (then UTC).
    public static func parse(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { parse(bytes: $0) }
    }

    /// `parse` over UTF-8 bytes.
    public static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Int64? {
        func num(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= b.count else { return nil }
            var v = 0
            for k in from..<(from + n) {
                let c = b[k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard b.count >= 19, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x20, b[13] == 0x3A,
            b[16] == 0x3A, let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2),
            let mi = num(14, 2), let sec = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60,
            sec < 61
        else { return nil }
        var i = 19
        var micros = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
                if digits < 6 { micros = micros * 10 + Int(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits >= 1, digits <= 9 else { return nil }
            for _ in min(digits, 6)..<6 { micros *= 10 }
        }
        var offset = 0
        if i < b.count {
            switch b[i] {
            case 0x5A:  // Z
                i += 1
            case 0x2B, 0x2D:  // + -
                let sign = b[i] == 0x2D ? -1 : 1
                guard let oh = num(i + 1, 2) else { return nil }
                var om = 0
                if let m = num(i + 4, 2), b[i + 3] == 0x3A {
                    om = m
                    i += 6
                } else if let m = num(i + 3, 2) {
                    om = m
                    i += 5
                } else {
                    i += 3
                }
                offset = sign * (oh * 3600 + om * 60)
            default: return nil
            }
        }
        guard i == b.count else { return nil }
        let secs = daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset
        return Int64(secs) * 1_000_000 + Int64(micros)
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    @usableFromInline
    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// A date to days since 1970-01-01 (the inverse of `civil`).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `v` in decimal, zero-padded to `width` digits.
    @usableFromInline
    static func digits(_ v: Int, _ width: Int, _ out: inout [UInt8]) {
        var p = 1
        var w = 1
        while w < width || p * 10 <= v {
            p *= 10
            w += 1
        }
        var r = v
        while p > 0 {
            out.append(0x30 + UInt8(r / p))
            r %= p
            p /= 10
        }
    }
}
