"""Bark's magic numbers, named once (values from Suno's bark 0.1.5)."""

SAMPLE_RATE = 24_000

# Text / semantic stage
TEXT_ENCODING_OFFSET = 10_048
TEXT_PAD_TOKEN = 129_595
SEMANTIC_INFER_TOKEN = 129_599
SEMANTIC_VOCAB_SIZE = 10_000
SEMANTIC_PAD_TOKEN = 10_000  # also the EOS id of the semantic stage
SEMANTIC_EOS_TOKEN = SEMANTIC_PAD_TOKEN
SEMANTIC_RATE_HZ = 49.9
MAX_TEXT_TOKENS = 256
MAX_SEMANTIC_HISTORY = 256
MAX_SEMANTIC_STEPS = 768

# Coarse stage
CODEBOOK_SIZE = 1024
N_COARSE_CODEBOOKS = 2
N_FINE_CODEBOOKS = 8
COARSE_RATE_HZ = 75
COARSE_SEMANTIC_PAD_TOKEN = 12_048
COARSE_INFER_TOKEN = 12_050
SEMANTIC_TO_COARSE_RATIO = COARSE_RATE_HZ / SEMANTIC_RATE_HZ * N_COARSE_CODEBOOKS

# Fine stage
FINE_WINDOW = 1024
FINE_STEP = 512
FINE_MAX_HISTORY = 512


# Vocabulary sizes of the three models
TEXT_INPUT_VOCAB = 129_600
TEXT_OUTPUT_VOCAB = 10_048
COARSE_VOCAB = 12_096
FINE_VOCAB = 1_056

LANGUAGES = {
    "en": "English", "de": "German", "es": "Spanish", "fr": "French", "hi": "Hindi",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "pl": "Polish", "pt": "Portuguese",
    "ru": "Russian", "tr": "Turkish", "zh": "Chinese",
}
