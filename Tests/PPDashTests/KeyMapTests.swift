import PPTerm
import Testing

@testable import PPDash

@Suite("Key map and help")
struct KeyMapTests {
    @Test func everyBindingHasHelpText() {
        for b in KeyMap.bindings {
            #expect(!b.help.trimmingSpaces.isEmpty, "binding \(b.keysText) in \(b.scope) has no help")
            #expect(!b.keys.isEmpty || b.keyLabel != nil)
        }
    }

    @Test func noKeyIsBoundTwiceInOneScope() {
        for scope in KeyScope.allCases {
            var seen: [Key: Action] = [:]
            for b in KeyMap.bindings where b.scope == scope {
                for k in b.keys {
                    #expect(seen[k] == nil, "\(KeyMap.name(k)) bound twice in \(scope)")
                    seen[k] = b.action
                }
            }
        }
    }

    @Test func helpListsEveryKey() {
        let lines = KeyMap.helpLines()
        for b in KeyMap.bindings {
            #expect(lines.contains { $0.keys == b.keysText && $0.text == b.help }, "help lacks \(b.keysText)")
            for k in b.keys {
                #expect(lines.contains { $0.keys.split(separator: " ").contains(Substring(KeyMap.name(k))) })
            }
        }
        // Headings for every scope that has bindings.
        for scope in KeyScope.allCases where KeyMap.bindings.contains(where: { $0.scope == scope }) {
            #expect(lines.contains { $0.heading && $0.keys == scope.title })
        }
    }

    @Test func theHelpScreenShowsEveryKeyItLists() {
        // Rendered with room enough for the whole help: every binding's keys appear on the canvas.
        var ui = UIState()
        ui.showHelp = true
        let canvas = render(Fixture.snapshot(), ui, size: Size(rows: 120, cols: 120), capabilities: color)
        for b in KeyMap.bindings {
            #expect(canvas.text.contains(b.keysText), "\(b.keysText) missing from the help screen")
        }
    }

    @Test func specKeysAreBound() {
        let main: [KeyScope] = [.table, .main, .moving, .global]
        let expected: [(Key, Action)] = [
            (.char("q"), .quit), (.ctrl("c"), .quit), (.char("?"), .toggleHelp), (.function(1), .toggleHelp),
            (.char("s"), .openSubmit), (.char("/"), .openFilter), (.char("f"), .toggleFollow), (.char("a"), .abortTask),
            (.char("A"), .abortBatch), (.char("r"), .retryTask), (.char("R"), .retryBatch), (.char("p"), .togglePause),
            (.char("z"), .toggleFreeze), (.char("+"), .addEngine), (.char("-"), .removeEngine),
            (.char("<"), .sortPrevious),
            (.char(">"), .sortNext), (.char("o"), .flipOrder), (.enter, .openDetail), (.tab, .nextPane),
            (.char("j"), .moveDown), (.char("k"), .moveUp), (.down, .moveDown), (.up, .moveUp), (.pageUp, .pageUp),
            (.pageDown, .pageDown), (.home, .top), (.end, .bottom), (.char("g"), .top), (.char("G"), .bottom),
            (.escape, .escape),
        ]
        for (key, action) in expected {
            #expect(KeyMap.binding(for: key, in: main)?.action == action, "\(KeyMap.name(key))")
        }
        let prompt: [(Key, Action)] = [
            (.left, .edit(.left)), (.right, .edit(.right)), (.home, .edit(.home)), (.end, .edit(.end)),
            (.backspace, .edit(.deleteBackward)), (.delete, .edit(.deleteForward)), (.ctrl("u"), .edit(.killToStart)),
            (.ctrl("a"), .edit(.home)), (.ctrl("e"), .edit(.end)), (.up, .edit(.historyPrevious)),
            (.down, .edit(.historyNext)), (.enter, .accept), (.escape, .cancel),
        ]
        for (key, action) in prompt {
            #expect(KeyMap.binding(for: key, in: [.prompt])?.action == action, "\(KeyMap.name(key))")
        }
    }
}
