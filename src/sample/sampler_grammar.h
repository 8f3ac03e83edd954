// The grammar constraint for a SamplerChain (see TokenConstraint in sampler.h).
#pragma once

#include "grammar/token_matcher.h"
#include "sample/sampler.h"

#include <memory>

namespace corvid {

// Throws Error(invalid_argument) when the grammar names a token the vocabulary lacks.
std::unique_ptr<TokenConstraint> make_grammar_constraint(std::shared_ptr<const grammar::Grammar> g,
                                                         std::shared_ptr<const grammar::VocabIndex> vocab);

} // namespace corvid
