import Foundation
public import Model

/// The messages sent for one AI request: the task from its kind, the
/// draft, the workspace's brand kit (voice, banned words, default hashtags)
/// and the target platforms' rules, and afterwards the check of an answer
/// against the same rules.
public enum AIPrompt {
    /// The chat for `request` on `draft`.
    public static func messages(for request: AIRequest, draft: DraftValue, brand: BrandKitValue?) -> [ChatMessage] {
        var system = "You write social media copy for a brand. Answer with the text only: no preamble, no quotes, no explanation."
        if let brand {
            let voice = brand.voice.trimmingCharacters(in: .whitespacesAndNewlines)
            if !voice.isEmpty { system += "\nBrand voice: \(voice)" }
            if !brand.bannedWords.isEmpty { system += "\nNever use these words: \(brand.bannedWords.joined(separator: ", "))." }
            if !brand.defaultHashtags.isEmpty {
                system += "\nThe brand's usual hashtags: \(brand.defaultHashtags.map { "#" + $0 }.joined(separator: " "))."
            }
        }
        for platform in platforms(of: request, draft: draft) {
            let rules = platform.rules
            system += "\nFor \(platform.rawValue): at most \(rules.captionLimit) characters and \(rules.hashtagLimit) hashtags."
        }
        let kind = AIKind(rawValue: request.kind) ?? .caption
        let task: String
        switch kind {
        case .caption: task = "Write a caption for this post."
        case .hashtags: task = "Suggest hashtags for this post, separated by spaces, each starting with #."
        case .rewrite: task = "Rewrite the caption in a \(request.tone ?? "friendly") tone."
        case .translate: task = "Translate the caption into \(request.language ?? "English")."
        case .shorten: task = "Shorten the caption so that it fits \(request.platform ?? "the platform")."
        }
        var user = "\(task)\nTitle: \(draft.title)"
        if !draft.caption.isEmpty { user += "\nCaption: \(draft.caption)" }
        if !draft.hashtags.isEmpty { user += "\nHashtags: \(draft.hashtags.map { "#" + $0 }.joined(separator: " "))" }
        user += "\nRequest: \(request.prompt)"
        return [ChatMessage(role: "system", content: system), ChatMessage(role: "user", content: user)]
    }

    /// The platforms an answer must fit: the request's own (shorten), else the draft's.
    static func platforms(of request: AIRequest, draft: DraftValue) -> [Platform] {
        if let p = request.platform.flatMap(Platform.init(rawValue:)) { return [p] }
        return draft.platforms.keys.compactMap(Platform.init(rawValue:)).sorted()
    }

    /// Every rule `text` breaks: a banned word, a platform's length or hashtag limit.
    public static func problems(of text: String, for request: AIRequest, draft: DraftValue, brand: BrandKitValue?) -> [String] {
        var out: [String] = []
        let lower = text.lowercased()
        for word in brand?.bannedWords ?? [] where !word.isEmpty {
            if lower.range(of: "\\b\(NSRegularExpression.escapedPattern(for: word.lowercased()))\\b", options: .regularExpression) != nil {
                out.append("uses the banned word \"\(word)\"")
            }
        }
        let tags = text.split(whereSeparator: \.isWhitespace).filter { $0.hasPrefix("#") }.count
        for platform in platforms(of: request, draft: draft) {
            let rules = platform.rules
            if text.count > rules.captionLimit { out.append("\(text.count) characters; \(platform.rawValue) allows \(rules.captionLimit)") }
            if tags > rules.hashtagLimit { out.append("\(tags) hashtags; \(platform.rawValue) allows \(rules.hashtagLimit)") }
        }
        return out
    }
}
