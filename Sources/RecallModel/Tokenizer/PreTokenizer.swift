/// Pre-tokenizers: split normalized text into the pieces ("words") BPE sees.
///
/// Pieces are byte ranges into one arena (`[UInt8]`); a step that prepends a space copies the piece
/// to the arena's end. Each step maps every piece to zero or more pieces; empty pieces are dropped,
/// as `tokenizers` does.

enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

enum SplitPattern: Sendable {
    case literal([UInt8])
    case regex(PreTokenizerRegex)
}

enum PreTokenizerStep: Sendable {
    case split(SplitPattern, SplitBehavior, invert: Bool)
    /// `useRegex` splits with GPT-2's pattern; the byte -> char mapping itself happens in the model.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case digits(individual: Bool)
    case whitespaceSplit
    case whitespace
}

struct PreTokenizerScratch {
    var scalars = ScalarBuffer()
    var matches: [(Int, Int)] = []
    var marked: [(Int, Int, Bool)] = []
    var next: [(Int, Int)] = []
}

struct PreTokenizer: Sendable {
    var steps: [PreTokenizerStep]

    /// Whether the last step is ByteLevel: the model then works on bytes mapped to characters.
    var isByteLevel: Bool {
        if case .byteLevel = steps.last { return true }
        return false
    }

    /// Splits `pieces` (ranges into `arena`) in place.
    func run(_ arena: inout [UInt8], _ pieces: inout [(Int, Int)], scratch: inout PreTokenizerScratch) {
        for step in steps {
            scratch.next.removeAll(keepingCapacity: true)
            for (a, b) in pieces {
                apply(step, &arena, a, b, &scratch)
            }
            swap(&pieces, &scratch.next)
        }
    }

    private func apply(_ step: PreTokenizerStep, _ arena: inout [UInt8], _ a: Int, _ b: Int,
                       _ scratch: inout PreTokenizerScratch) {
        switch step {
        case let .split(pattern, behavior, invert):
            scratch.matches.removeAll(keepingCapacity: true)
            arena.withUnsafeBufferPointer { buf in
                let piece = UnsafeBufferPointer(rebasing: buf[a..<b])
                switch pattern {
                case .literal(let lit): Self.literalMatches(piece, lit, into: &scratch.matches)
                case .regex(let re): re.matches(piece, scratch: &scratch.scalars, into: &scratch.matches)
                }
            }
            emit(matchesToMarked(scratch.matches, length: b - a, invert: invert, &scratch.marked), behavior, base: a,
                 &scratch)

        case let .byteLevel(addPrefixSpace, useRegex):
            var a = a, b = b
            if addPrefixSpace && arena[a] != 0x20 {
                let start = arena.count
                arena.append(0x20)
                arena.append(contentsOf: arena[a..<b])
                a = start
                b = arena.count
            }
            if !useRegex {
                scratch.next.append((a, b))
                return
            }
            scratch.matches.removeAll(keepingCapacity: true)
            arena.withUnsafeBufferPointer { buf in
                PreTokenizerRegex.gpt2.matches(UnsafeBufferPointer(rebasing: buf[a..<b]), scratch: &scratch.scalars,
                                               into: &scratch.matches)
            }
            emit(matchesToMarked(scratch.matches, length: b - a, invert: false, &scratch.marked), .isolated, base: a,
                 &scratch)

        case .digits(let individual):
            charMatches(arena, a, b, &scratch) { ScalarClass.of($0) & ScalarClass.number != 0 }
            emit(matchesToMarked(scratch.matches, length: b - a, invert: false, &scratch.marked),
                 individual ? .isolated : .contiguous, base: a, &scratch)

        case .whitespaceSplit:
            charMatches(arena, a, b, &scratch) { Unicode.Scalar($0)?.properties.isWhitespace ?? false }
            emit(matchesToMarked(scratch.matches, length: b - a, invert: false, &scratch.marked), .removed, base: a,
                 &scratch)

        case .whitespace:
            // `\w+|[^\w\s]+` (Rust regex classes), keeping only the matches.
            scratch.matches.removeAll(keepingCapacity: true)
            arena.withUnsafeBufferPointer { buf in
                scratch.scalars.load(UnsafeBufferPointer(rebasing: buf[a..<b]))
            }
            let sb = scratch.scalars
            var i = 0
            @inline(__always) func kind(_ k: Int) -> Int {
                let u = Unicode.Scalar(sb.scalars[k])!
                if ScalarClass.isRustWord(u) { return 1 }
                return u.properties.isWhitespace ? 0 : 2
            }
            while i < sb.count {
                let k = kind(i)
                if k == 0 { i += 1; continue }
                var j = i + 1
                while j < sb.count && kind(j) == k { j += 1 }
                scratch.matches.append((sb.offsets[i], sb.offsets[j]))
                i = j
            }
            emit(matchesToMarked(scratch.matches, length: b - a, invert: true, &scratch.marked), .removed, base: a,
                 &scratch)
        }
    }

    /// Each scalar satisfying `pred` is one match (like `tokenizers`' `Fn(char) -> bool` pattern).
    private func charMatches(_ arena: [UInt8], _ a: Int, _ b: Int, _ scratch: inout PreTokenizerScratch,
                             _ pred: (UInt32) -> Bool) {
        scratch.matches.removeAll(keepingCapacity: true)
        arena.withUnsafeBufferPointer { buf in
            scratch.scalars.load(UnsafeBufferPointer(rebasing: buf[a..<b]))
        }
        let sb = scratch.scalars
        for i in 0..<sb.count where pred(sb.scalars[i]) {
            scratch.matches.append((sb.offsets[i], sb.offsets[i + 1]))
        }
    }

    static func literalMatches(_ piece: UnsafeBufferPointer<UInt8>, _ lit: [UInt8], into out: inout [(Int, Int)]) {
        let n = piece.count, m = lit.count
        guard m > 0, n >= m else { return }
        var i = 0
        while i + m <= n {
            var j = 0
            while j < m && piece[i + j] == lit[j] { j += 1 }
            if j == m {
                out.append((i, i + m))
                i += m
            } else {
                i += 1
            }
        }
    }

    /// Matches + the gaps between them, each flagged as match or not (`Pattern::find_matches`).
    private func matchesToMarked(_ matches: [(Int, Int)], length: Int, invert: Bool,
                                 _ marked: inout [(Int, Int, Bool)]) -> [(Int, Int, Bool)] {
        marked.removeAll(keepingCapacity: true)
        if length == 0 {
            marked.append((0, 0, invert))
            return marked
        }
        var prev = 0
        for (s, e) in matches {
            if prev != s { marked.append((prev, s, invert)) }
            marked.append((s, e, !invert))
            prev = e
        }
        if prev != length { marked.append((prev, length, invert)) }
        return marked
    }

    /// `NormalizedString::split` with a behavior; appends non-empty absolute ranges to scratch.next.
    private func emit(_ marked: [(Int, Int, Bool)], _ behavior: SplitBehavior, base: Int,
                      _ scratch: inout PreTokenizerScratch) {
        @inline(__always) func push(_ s: Int, _ e: Int) {
            if e > s { scratch.next.append((base + s, base + e)) }
        }
        switch behavior {
        case .isolated:
            for (s, e, _) in marked { push(s, e) }
        case .removed:
            for (s, e, isMatch) in marked where !isMatch { push(s, e) }
        case .contiguous:
            var acc: [(Int, Int)] = []
            var previousMatch = false
            for (s, e, isMatch) in marked {
                if isMatch == previousMatch, !acc.isEmpty {
                    acc[acc.count - 1].1 = e
                } else {
                    acc.append((s, e))
                }
                previousMatch = isMatch
            }
            for (s, e) in acc { push(s, e) }
        case .mergedWithPrevious:
            var acc: [(Int, Int)] = []
            var previousMatch = false
            for (s, e, isMatch) in marked {
                if isMatch && !previousMatch, !acc.isEmpty {
                    acc[acc.count - 1].1 = e
                } else {
                    acc.append((s, e))
                }
                previousMatch = isMatch
            }
            for (s, e) in acc { push(s, e) }
        case .mergedWithNext:
            var acc: [(Int, Int)] = []
            var previousMatch = false
            for (s, e, isMatch) in marked.reversed() {
                if isMatch && !previousMatch, !acc.isEmpty {
                    acc[acc.count - 1].0 = s
                } else {
                    acc.append((s, e))
                }
                previousMatch = isMatch
            }
            for (s, e) in acc.reversed() { push(s, e) }
        }
    }
}
