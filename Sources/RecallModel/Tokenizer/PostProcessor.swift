/// Post-processors of `tokenizers` for a single sequence: what `encode(text, add_special_tokens)`
/// adds around the ids. ByteLevel only trims offsets, so it changes no id.
enum TemplatePiece: Sendable, Equatable {
    case special([Int])
    case sequence
}

enum PostProcessorStep: Sendable {
    case template(single: [TemplatePiece])
    /// RobertaProcessing / BertProcessing: cls + ids + sep.
    case wrap(cls: Int, sep: Int)
    case byteLevel
}

struct PostProcessor: Sendable {
    var steps: [PostProcessorStep]

    func apply(_ ids: [Int], addSpecialTokens: Bool) -> [Int] {
        guard addSpecialTokens else { return ids }
        var ids = ids
        for step in steps {
            switch step {
            case .template(let single):
                var out: [Int] = []
                out.reserveCapacity(ids.count + single.count)
                for piece in single {
                    switch piece {
                    case .special(let s): out.append(contentsOf: s)
                    case .sequence: out.append(contentsOf: ids)
                    }
                }
                ids = out
            case let .wrap(cls, sep):
                ids = [cls] + ids + [sep]
            case .byteLevel:
                break
            }
        }
        return ids
    }

    /// Ids the template puts before / after the sequence (for guessing BOS / EOS).
    var leadingSpecial: Int? {
        for step in steps {
            switch step {
            case .template(let single): if case .special(let s)? = single.first { return s.first }
            case .wrap(let cls, _): return cls
            case .byteLevel: continue
            }
        }
        return nil
    }

    var trailingSpecial: Int? {
        for step in steps.reversed() {
            switch step {
            case .template(let single): if case .special(let s)? = single.last, single.count > 1 { return s.last }
            case .wrap(_, let sep): return sep
            case .byteLevel: continue
            }
        }
        return nil
    }
}
