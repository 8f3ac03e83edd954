// Grammar-constrained sampling: a TokenConstraint over a grammar::TokenMatcher.
#include "sample/sampler_grammar.h"

#include "util/error.h"

namespace corvid {
namespace {

class GrammarConstraint final : public TokenConstraint {
public:
    GrammarConstraint(std::shared_ptr<const grammar::Grammar> g, std::shared_ptr<const grammar::VocabIndex> v)
        : m_(std::move(g), std::move(v)) {}

    bool allows(int32_t token) override { return m_.allows(token); }

    void mask(Candidates &c) override {
        const grammar::TokenMask &allowed = m_.allowed();
        materialize(c); // c.items = the whole vocabulary, in id order
        const int32_t n = m_.vocab().n_vocab;
        size_t k = 0;
        for (const Candidate &x : c.items)
            if (x.id < n && grammar::mask_has(allowed, x.id)) c.items[k++] = x;
        c.items.resize(k);
        c.sorted = false;
        if (k == 0)
            fail(Status::invalid_argument, "grammar: no token of the vocabulary can continue the text here%s",
                 m_.can_end() ? " (the grammar may end, but the vocabulary has no end-of-generation token)" : "");
    }

    void accept(int32_t token) override { m_.accept(token); }
    void reset() override { m_.reset(); }

private:
    grammar::TokenMatcher m_;
};

} // namespace

std::unique_ptr<TokenConstraint> make_grammar_constraint(std::shared_ptr<const grammar::Grammar> g,
                                                         std::shared_ptr<const grammar::VocabIndex> vocab) {
    return std::make_unique<GrammarConstraint>(std::move(g), std::move(vocab));
}

} // namespace corvid
