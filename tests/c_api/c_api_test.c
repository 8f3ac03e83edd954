/* Proves that corvid.h is plain C11 and that the shared library links from C:
 * this file includes nothing from Corvid but corvid.h. It also checks the API's
 * error contract (statuses, messages, NULL handling) on a real model.
 * Usage: corvid-c-api-test stories260K.gguf   (exit 77 = skipped: model missing) */
#include <corvid.h>

#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                    \
        }                                                                  \
    } while (0)

static int log_calls = 0;
static void on_log(corvid_log_level level, const char *message, void *user_data) {
    (void)level;
    (void)message;
    ++*(int *)user_data;
}

int main(int argc, char **argv) {
    corvid_model *m = NULL;
    corvid_model_params p;
    corvid_tensor_info ti;
    const char *s = NULL;
    size_t len = 0;
    int64_t iv = 0;
    double fv = 0;
    char buf[16];
    FILE *probe;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    probe = fopen(argv[1], "rb");
    if (!probe) {
        fprintf(stderr, "skipped: %s not found\n", argv[1]);
        return 77;
    }
    fclose(probe);

    CHECK(strcmp(corvid_version(), CORVID_VERSION_STRING) == 0);
    CHECK(corvid_version_number() == CORVID_VERSION_NUMBER);
    {
        const char *k = corvid_cpu_kernels();
        CHECK(k && (!strcmp(k, "avx512") || !strcmp(k, "amx") || !strcmp(k, "avx2") || !strcmp(k, "neon") ||
                    !strcmp(k, "scalar")));
    }
    CHECK(strcmp(corvid_status_name(CORVID_ERR_FORMAT), "CORVID_ERR_FORMAT") == 0);
    CHECK(strcmp(corvid_type_name(CORVID_TYPE_Q4_K), "q4_K") == 0);
    CHECK(corvid_type_name(4) == NULL);
    CHECK(corvid_type_is_supported(CORVID_TYPE_Q8_0));
    CHECK(!corvid_type_is_supported(CORVID_TYPE_IQ2_XXS));

    corvid_set_log_callback(on_log, &log_calls);

    /* Errors: a status, a message naming the cause, no crash, out-pointer cleared. */
    m = (corvid_model *)&failures;
    CHECK(corvid_model_open("/nonexistent/x.gguf", NULL, &m) == CORVID_ERR_IO);
    CHECK(m == NULL);
    CHECK(strstr(corvid_last_error(), "/nonexistent/x.gguf") != NULL);
    CHECK(log_calls > 0);
    CHECK(corvid_model_open(NULL, NULL, &m) == CORVID_ERR_INVALID_ARGUMENT);
    CHECK(corvid_model_open(argv[1], NULL, NULL) == CORVID_ERR_INVALID_ARGUMENT);
    CHECK(corvid_model_meta_int(NULL, "x", &iv) == CORVID_ERR_INVALID_ARGUMENT);
    CHECK(corvid_model_n_tensors(NULL) == 0);
    corvid_model_close(NULL);
    corvid_set_log_callback(NULL, NULL);

    p = corvid_model_default_params();
    CHECK(p.use_mmap);
    p.use_mmap = 0;
    CHECK(corvid_model_open(argv[1], &p, &m) == CORVID_OK);
    if (!m) return 1;

    CHECK(strcmp(corvid_model_architecture(m), "llama") == 0);
    CHECK(corvid_model_gguf_version(m) == 3);
    CHECK(corvid_model_n_layers(m) == 5);
    CHECK(corvid_model_n_embd(m) == 64);
    CHECK(corvid_model_n_vocab(m) == 512);
    CHECK(corvid_model_n_ctx_train(m) == 2048);
    CHECK(corvid_model_n_tensors(m) == 48);
    CHECK(corvid_model_n_params(m) == 292800);
    CHECK(corvid_vocab_bos(m) == 1 && corvid_vocab_eos(m) == 2);
    CHECK(corvid_model_meta_count(m) == 19);
    CHECK(corvid_model_meta_key(m, 19) == NULL);

    CHECK(corvid_model_meta_int(m, "llama.attention.head_count", &iv) == CORVID_OK && iv == 8);
    CHECK(corvid_model_meta_float(m, "llama.attention.layer_norm_rms_epsilon", &fv) == CORVID_OK);
    CHECK(fv > 0.99e-5 && fv < 1.01e-5);
    CHECK(corvid_model_meta_string(m, "tokenizer.ggml.model", &s, &len) == CORVID_OK);
    CHECK(s && strcmp(s, "llama") == 0 && len == 5);
    CHECK(corvid_model_meta_int(m, "general.architecture", &iv) == CORVID_ERR_TYPE_MISMATCH);
    CHECK(strstr(corvid_last_error(), "general.architecture") != NULL);
    CHECK(corvid_model_meta_int(m, "no.such.key", &iv) == CORVID_ERR_NOT_FOUND);
    CHECK(corvid_model_meta_array_string(m, "tokenizer.ggml.tokens", 1, &s, &len) == CORVID_OK);
    CHECK(s && strcmp(s, "<s>") == 0);
    CHECK(corvid_model_meta_array_string(m, "tokenizer.ggml.tokens", 512, &s, &len) == CORVID_ERR_INVALID_ARGUMENT);
    CHECK(corvid_model_meta_array_int(m, "tokenizer.ggml.token_type", 1, &iv) == CORVID_OK && iv == 3);

    /* snprintf-style formatting: the return value is the full length. */
    CHECK(corvid_model_meta_format(m, "general.architecture", buf, sizeof buf, 4) == 7);
    CHECK(strcmp(buf, "\"llama\"") == 0);
    CHECK(corvid_model_meta_format(m, "tokenizer.ggml.tokens", buf, sizeof buf, 2) > 15);
    CHECK(strlen(buf) == 15);
    CHECK(corvid_model_meta_format(m, "no.such.key", buf, sizeof buf, 2) == -1);

    CHECK(corvid_model_tensor_info(m, 0, &ti) == CORVID_OK);
    CHECK(corvid_model_find_tensor(m, "token_embd.weight") >= 0);
    CHECK(corvid_model_tensor_info(m, corvid_model_find_tensor(m, "token_embd.weight"), &ti) == CORVID_OK);
    CHECK(ti.type == CORVID_TYPE_F32 && ti.n_dims == 2 && ti.ne[0] == 64 && ti.ne[1] == 512);
    CHECK(ti.n_bytes == 64 * 512 * 4);
    CHECK(ti.file_offset >= corvid_model_data_offset(m) && ti.file_offset % corvid_model_alignment(m) == 0);
    CHECK(ti.file_offset + ti.n_bytes <= corvid_model_file_size(m));
    CHECK(corvid_model_tensor_info(m, 48, &ti) == CORVID_ERR_INVALID_ARGUMENT);
    CHECK(corvid_model_find_tensor(m, "nope") == -1);

    /* Generation through the C API only: the README's greedy continuation of stories260K. */
    {
        static const int32_t want[] = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337};
        int32_t toks[16], bad = 999999, t = 0;
        size_t n = 0;
        int i;
        corvid_context *ctx = NULL;
        corvid_sampler *smp = NULL;
        corvid_sampler_params sp = corvid_sampler_default_params();
        corvid_context_params cp = corvid_context_default_params();
        corvid_batch b;
        cp.n_ctx = 64;
        sp.temperature = 0.0f;
        CHECK(corvid_tokenize(m, "Once upon a time", 16, true, false, toks, 2, &n) == CORVID_ERR_BUFFER_TOO_SMALL);
        CHECK(n == 5);
        CHECK(corvid_tokenize(m, "Once upon a time", 16, true, false, toks, 16, &n) == CORVID_OK);
        CHECK(n == 5 && toks[0] == 1 && toks[1] == 403 && toks[4] == 378);
        CHECK(corvid_context_create(m, &cp, &ctx) == CORVID_OK);
        CHECK(corvid_sampler_create(m, &sp, &smp) == CORVID_OK);
        if (ctx && smp) {
            CHECK(corvid_context_n_ctx(ctx) == 64);
            b.n_tokens = 1;
            b.tokens = &bad;
            b.pos = NULL;
            b.seq_id = NULL;
            b.logits = NULL;
            CHECK(corvid_decode(ctx, &b) == CORVID_ERR_INVALID_ARGUMENT); /* id out of range */
            CHECK(strstr(corvid_last_error(), "999999") != NULL);
            CHECK(corvid_get_logits(ctx, -1) == NULL);
            b.n_tokens = n;
            b.tokens = toks;
            CHECK(corvid_decode(ctx, &b) == CORVID_OK);
            for (i = 0; i < 16; ++i) {
                CHECK(corvid_sampler_sample(smp, ctx, -1, &t) == CORVID_OK);
                CHECK(t == want[i]);
                b.n_tokens = 1;
                b.tokens = &t;
                CHECK(corvid_decode(ctx, &b) == CORVID_OK);
            }
            CHECK(corvid_kv_seq_max_pos(ctx, 0) == 20);
            /* A prompt longer than the free context is refused up front. */
            {
                int32_t many[64];
                for (i = 0; i < 64; ++i) many[i] = 300;
                b.n_tokens = 64;
                b.tokens = many;
                CHECK(corvid_decode(ctx, &b) == CORVID_ERR_INVALID_ARGUMENT);
                CHECK(corvid_kv_seq_max_pos(ctx, 0) == 20);
            }
            /* Rollback: drop the last 6 positions, continue from 15. */
            CHECK(corvid_kv_seq_remove(ctx, 0, 15, -1) == CORVID_OK);
            CHECK(corvid_kv_seq_max_pos(ctx, 0) == 14);
            corvid_kv_clear(ctx);
            CHECK(corvid_kv_seq_max_pos(ctx, 0) == -1);
        }
        corvid_sampler_free(smp);
        corvid_context_free(ctx);
    }

    /* Chat templates: a built-in by name, Jinja text, and errors that name the line. */
    {
        char out[512];
        size_t nb = 0;
        const char *msgs = "[{\"role\":\"user\",\"content\":\"Hi\"}]";
        corvid_sampler_params sp2 = corvid_sampler_default_params();
        corvid_sampler *bad = NULL;
        CHECK(corvid_chat_apply_template(m, "chatml", msgs, NULL, true, out, sizeof out, &nb) == CORVID_OK);
        CHECK(nb == strlen("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        CHECK(memcmp(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", nb) == 0);
        CHECK(corvid_chat_apply_template(m, "{% for m in messages %}{{ m.content }}{% endfor %}", msgs, NULL, false, out,
                                         sizeof out, &nb) == CORVID_OK);
        CHECK(nb == 2 && memcmp(out, "Hi", 2) == 0);
        CHECK(corvid_chat_apply_template(m, "line1\n{% if %}", msgs, NULL, false, out, sizeof out, &nb) == CORVID_ERR_FORMAT);
        CHECK(strstr(corvid_last_error(), "line 2") != NULL);
        CHECK(corvid_chat_apply_template(m, "chatml", "not json", NULL, false, out, sizeof out, &nb) == CORVID_ERR_INVALID_ARGUMENT);
        /* stories260K has no template: its Llama-2-style vocabulary gets the built-in llama2 format. */
        CHECK(corvid_model_chat_template(m) == NULL);
        CHECK(corvid_chat_apply_template(m, NULL, msgs, NULL, true, out, sizeof out, &nb) == CORVID_OK);
        CHECK(nb < sizeof out);
        out[nb < sizeof out ? nb : sizeof out - 1] = '\0';
        CHECK(strstr(out, "[INST]") != NULL);
        sp2.samplers = "top_k;bogus";
        CHECK(corvid_sampler_create(m, &sp2, &bad) == CORVID_ERR_INVALID_ARGUMENT && bad == NULL);
        CHECK(strstr(corvid_last_error(), "bogus") != NULL);
    }

    /* Grammar-constrained sampling: the text stays inside the grammar; errors name the place. */
    {
        char text[256], piece[64], buf[8];
        size_t len = 0, nb = 0, n = 0;
        int32_t toks[8], t = 0;
        int i, ended = 0;
        corvid_context *ctx = NULL;
        corvid_sampler *smp = NULL, *bad = NULL;
        corvid_sampler_params sp = corvid_sampler_default_params();
        corvid_context_params cp = corvid_context_default_params();
        corvid_batch b;
        cp.n_ctx = 64;
        sp.seed = 7;
        sp.grammar = "root ::= [a-z]{1,6} (\" \" [a-z]{1,6}){0,3} \".\"";
        CHECK(corvid_context_create(m, &cp, &ctx) == CORVID_OK);
        CHECK(corvid_sampler_create(m, &sp, &smp) == CORVID_OK);
        CHECK(corvid_tokenize(m, "Once", 4, true, false, toks, 8, &n) == CORVID_OK);
        if (ctx && smp) {
            b.n_tokens = n;
            b.tokens = toks;
            b.pos = NULL;
            b.seq_id = NULL;
            b.logits = NULL;
            CHECK(corvid_decode(ctx, &b) == CORVID_OK);
            for (i = 0; i < 40 && !ended; ++i) {
                CHECK(corvid_sampler_sample(smp, ctx, -1, &t) == CORVID_OK);
                if (corvid_vocab_is_eog(m, t)) {
                    ended = 1;
                    break;
                }
                CHECK(corvid_token_to_piece(m, t, false, piece, sizeof piece, &nb) == CORVID_OK);
                if (len + nb < sizeof text) memcpy(text + len, piece, nb), len += nb;
                b.n_tokens = 1;
                b.tokens = &t;
                CHECK(corvid_decode(ctx, &b) == CORVID_OK);
            }
            text[len] = '\0';
            /* The grammar ends with '.', after which only end-of-generation is allowed. */
            CHECK(ended && len > 1 && text[len - 1] == '.');
            for (i = 0; i + 1 < (int)len; ++i) CHECK((text[i] >= 'a' && text[i] <= 'z') || text[i] == ' ');
        }
        corvid_sampler_free(smp);
        corvid_context_free(ctx);

        sp.grammar = "root ::= \"a\"\nitem ::= (\"b\" | ";
        CHECK(corvid_sampler_create(m, &sp, &bad) == CORVID_ERR_INVALID_ARGUMENT && bad == NULL);
        CHECK(strstr(corvid_last_error(), "line 2, column 10") != NULL);
        sp.grammar = NULL;
        sp.json_schema = "{\"type\": \"object\", \"patternProperties\": {}}";
        CHECK(corvid_sampler_create(m, &sp, &bad) == CORVID_ERR_INVALID_ARGUMENT && bad == NULL);
        CHECK(strstr(corvid_last_error(), "patternProperties") != NULL);
        sp.grammar_flags = CORVID_GRAMMAR_IGNORE_UNSUPPORTED;
        CHECK(corvid_sampler_create(m, &sp, &bad) == CORVID_OK && bad != NULL);
        corvid_sampler_free(bad);
        CHECK(corvid_sampler_create(NULL, &sp, &bad) == CORVID_ERR_INVALID_ARGUMENT); /* needs a vocabulary */
        CHECK(corvid_grammar_validate("root ::= x", NULL) == CORVID_ERR_INVALID_ARGUMENT);
        CHECK(strstr(corvid_last_error(), "'x' is used but never defined") != NULL);
        CHECK(corvid_grammar_validate("root ::= \"x\"*", NULL) == CORVID_OK);
        CHECK(corvid_json_schema_to_grammar("{\"type\": \"boolean\"}", 0, buf, sizeof buf, &nb) == CORVID_ERR_BUFFER_TOO_SMALL);
        CHECK(nb > sizeof buf);
    }

    corvid_model_close(m);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
