import Testing
import CNcurses
@testable import PPTerm

import Glibc

@Suite struct TerminalTests {
    @Test(.enabled(if: isatty(0) == 0 || isatty(1) == 0, "only meaningful when swift test has no TTY"))
    func openWithoutTTYThrowsNotATerminal() {
        #expect(throws: TerminalError.notATerminal) { _ = try Terminal.open() }
    }

    @Test func termChecks() throws {
        #expect(throws: TerminalError.noTERM) { try Terminal.checkTERM(nil) }
        #expect(throws: TerminalError.noTERM) { try Terminal.checkTERM("") }
        #expect(throws: TerminalError.dumbTerminal("dumb")) { try Terminal.checkTERM("dumb") }
        #expect(try Terminal.checkTERM("xterm-256color") == "xterm-256color")
    }

    @Test func noColorTurnsColoursOff() {
        #expect(Terminal.colorsWanted(noColor: nil))
        #expect(Terminal.colorsWanted(noColor: ""))
        #expect(!Terminal.colorsWanted(noColor: "1"))
    }

    @Test func errorDescriptionsAreOneLine() {
        let all: [TerminalError] = [.notATerminal, .noTERM, .dumbTerminal("dumb"), .unknownTerminal("foo"), .cannotStart("x")]
        for e in all {
            #expect(!e.description.isEmpty)
            #expect(!e.description.contains("\n"))
        }
        #expect(TerminalError.noTERM.description == "TERM is not set: no dashboard, plain output instead")
    }

    @Test func decodesCharacters() {
        let ok = Int32(OK)
        #expect(Terminal.decode(status: ok, code: 0x71) == .char("q"))
        #expect(Terminal.decode(status: ok, code: 0x65E5) == .char("日"))
        #expect(Terminal.decode(status: ok, code: 0x03) == .ctrl("c"))
        #expect(Terminal.decode(status: ok, code: 0x1A) == .ctrl("z"))
        #expect(Terminal.decode(status: ok, code: 0x1B) == .escape)
        #expect(Terminal.decode(status: ok, code: 0x0D) == .enter)
        #expect(Terminal.decode(status: ok, code: 0x0A) == .enter)
        #expect(Terminal.decode(status: ok, code: 0x09) == .tab)
        #expect(Terminal.decode(status: ok, code: 0x7F) == .backspace)
        #expect(Terminal.decode(status: ok, code: 0x08) == .backspace)
        #expect(Terminal.decode(status: ok, code: 0x9B) == nil)
        #expect(Terminal.decode(status: ERR, code: 0x71) == nil)
    }

    @Test func decodesKeyCodes() {
        func key(_ code: Int32) -> Key? { Terminal.decode(status: KEY_CODE_YES, code: UInt32(bitPattern: code)) }
        #expect(key(KEY_UP) == .up)
        #expect(key(KEY_DOWN) == .down)
        #expect(key(KEY_LEFT) == .left)
        #expect(key(KEY_RIGHT) == .right)
        #expect(key(KEY_PPAGE) == .pageUp)
        #expect(key(KEY_NPAGE) == .pageDown)
        #expect(key(KEY_HOME) == .home)
        #expect(key(KEY_END) == .end)
        #expect(key(KEY_ENTER) == .enter)
        #expect(key(KEY_BACKSPACE) == .backspace)
        #expect(key(KEY_DC) == .delete)
        #expect(key(KEY_BTAB) == .backTab)
        #expect(key(KEY_RESIZE) == .resize)
        #expect(key(ppterm_key_f(1)) == .function(1))
        #expect(key(ppterm_key_f(12)) == .function(12))
        #expect(key(KEY_MOUSE) == nil)
    }

    @Test func asciiFallbacks() {
        #expect(asciiFallback("─") == "-")
        #expect(asciiFallback("│") == "|")
        #expect(asciiFallback("┌") == "+")
        #expect(asciiFallback("█") == "#")
        #expect(asciiFallback("…") == "~")
        #expect(asciiFallback("日") == "??")
        #expect(asciiFallback("é") == "?")
    }
}
