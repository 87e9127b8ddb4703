/* hix-gpu command buffers and the tensor ISA (docs/specs/hix-gpu.md §6).
 *
 * A command buffer is a header followed by fixed-size op records; every
 * record starts with struct hix_vgpu_op_header and names memory through
 * struct hix_vgpu_tref. Reserved fields must be zero. */
#ifndef HIX_ABI_VGPU_CMD_H
#define HIX_ABI_VGPU_CMD_H

#include <stdint.h>

#include "hix/abi/vgpu_status.h"

#define HIX_VGPU_CMDBUF_MAGIC 0x42435848u /* ASCII "HXCB" in memory order */
#define HIX_VGPU_CMDBUF_VERSION 1u
#define HIX_VGPU_CMDBUF_MIN 16u        /* bytes: a header and one NOP is the least */
#define HIX_VGPU_CMDBUF_MAX (1u << 20) /* bytes */
#define HIX_VGPU_MAX_OPS 16384u
#define HIX_VGPU_NUM_SCALAR_REGS 8u
#define HIX_VGPU_REG_NONE 0xFFu
#define HIX_VGPU_LOOP_MAX 65536u

/* Storage types of tensor operands. */
enum hix_vgpu_dtype {
  HIX_VGPU_DT_F32 = 1,
  HIX_VGPU_DT_BF16 = 2,
  HIX_VGPU_DT_I32 = 3,
};

/* Bytes per element of a dtype; 0 for a code that names none (so it also
 * tells whether a code is valid). */
static inline uint32_t hix_vgpu_dtype_bytes(uint8_t dtype) {
  switch (dtype) {
    case HIX_VGPU_DT_F32:
    case HIX_VGPU_DT_I32:
      return 4;
    case HIX_VGPU_DT_BF16:
      return 2;
    default:
      return 0;
  }
}

enum hix_vgpu_opcode {
  HIX_VGPU_OP_NOP = 0x00,
  HIX_VGPU_OP_FILL = 0x01,
  HIX_VGPU_OP_COPY = 0x02,
  HIX_VGPU_OP_DMA_IN = 0x03,
  HIX_VGPU_OP_DMA_OUT = 0x04,
  HIX_VGPU_OP_DMA_IN_DECRYPT = 0x05,
  HIX_VGPU_OP_DMA_OUT_ENCRYPT = 0x06,
  HIX_VGPU_OP_DMA_IN_PEER = 0x0D, /* 0x07..0x0C: the admin commands' numbers, never ops */
  HIX_VGPU_OP_DMA_IN_DECRYPT_PEER = 0x0E,
  HIX_VGPU_OP_EMBEDDING = 0x10,
  HIX_VGPU_OP_MATMUL = 0x11,
  HIX_VGPU_OP_ADD = 0x12,
  HIX_VGPU_OP_MUL = 0x13,
  HIX_VGPU_OP_LAYERNORM = 0x14,
  HIX_VGPU_OP_RMSNORM = 0x15,
  HIX_VGPU_OP_GELU = 0x16,
  HIX_VGPU_OP_SILU = 0x17,
  HIX_VGPU_OP_SOFTMAX = 0x18,
  HIX_VGPU_OP_ROPE = 0x19,
  HIX_VGPU_OP_ATTENTION = 0x1A,
  HIX_VGPU_OP_ARGMAX = 0x1B,
  HIX_VGPU_OP_SAMPLE = 0x1C,
  HIX_VGPU_OP_ROPE_LLAMA3 = 0x1D,
  HIX_VGPU_OP_SET_REG = 0x20,
  HIX_VGPU_OP_ADD_REG = 0x21,
  HIX_VGPU_OP_LOOP = 0x22,
  HIX_VGPU_OP_BREAK_IF_EQ = 0x23,
};

/* MATMUL flags */
#define HIX_VGPU_MATMUL_TRANS_B (1u << 0)
#define HIX_VGPU_MATMUL_ACCUMULATE (1u << 1)

/* ROPE, ROPE_LLAMA3 and ATTENTION flag (spec §6.4.1): the first dimension
 * counts sequences decoded in lockstep, all at one position; ATTENTION's
 * caches hold one [max_seq, kv_heads, head_dim] cache per sequence. */
#define HIX_VGPU_BATCH (1u << 0)

struct hix_vgpu_cmdbuf_header {
  uint32_t magic;     /* HIX_VGPU_CMDBUF_MAGIC */
  uint16_t version;   /* HIX_VGPU_CMDBUF_VERSION */
  uint16_t flags;     /* 0 */
  uint32_t op_count;  /* 1..HIX_VGPU_MAX_OPS */
  uint32_t total_len; /* bytes including this header */
};

struct hix_vgpu_op_header {
  uint16_t opcode; /* enum hix_vgpu_opcode */
  uint16_t size;   /* record size in bytes, fixed per opcode */
  uint32_t flags;  /* opcode-specific */
};

/* A tensor operand: a range of a buffer of the entry's context. */
struct hix_vgpu_tref {
  uint32_t handle;       /* buffer handle; 0 = absent (optional operands only) */
  uint8_t dtype;         /* enum hix_vgpu_dtype */
  uint8_t index_reg;     /* HIX_VGPU_REG_NONE or a scalar register */
  uint16_t reserved;     /* 0 */
  uint64_t offset;       /* byte offset */
  uint32_t index_stride; /* bytes per unit of the index register */
  uint32_t reserved2;    /* 0 */
};

struct hix_vgpu_op_nop {
  struct hix_vgpu_op_header h;
};

struct hix_vgpu_op_fill {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref dst;
  uint64_t count;
  uint32_t value; /* f32 bits (float dst) or the integer (i32 dst) */
  uint32_t reserved;
};

struct hix_vgpu_op_copy {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref dst;
  struct hix_vgpu_tref src;
  uint64_t count;
};

/* DMA_IN (buf = destination) and DMA_OUT (buf = source). */
struct hix_vgpu_op_dma {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref buf;
  uint64_t gpa;
  uint64_t bytes;
};

/* DMA_IN_DECRYPT (buf = destination) and DMA_OUT_ENCRYPT (buf = source). */
struct hix_vgpu_op_dma_crypt {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref buf;
  uint64_t gpa;
  uint64_t bytes; /* plaintext bytes */
  uint64_t tensor_id;
  uint32_t key_slot;
  uint32_t reserved;
};

/* DMA_IN_PEER and DMA_IN_DECRYPT_PEER (buf = destination): bytes of a peer
 * disk (spec hix-gpu §7.4). DMA_IN_PEER takes tensor_id and key_slot 0. */
struct hix_vgpu_op_dma_peer {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref buf;
  uint64_t offset; /* bytes into the disk */
  uint64_t bytes;  /* plaintext bytes */
  uint64_t tensor_id;
  uint32_t key_slot;
  uint32_t disk;
};

struct hix_vgpu_op_embedding {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref out;   /* [rows, dim] */
  struct hix_vgpu_tref table; /* [vocab, dim] */
  struct hix_vgpu_tref ids;   /* i32 [rows] */
  uint32_t rows;
  uint32_t dim;
  uint32_t vocab;
  uint32_t reserved;
};

struct hix_vgpu_op_matmul {
  struct hix_vgpu_op_header h; /* flags: HIX_VGPU_MATMUL_* */
  struct hix_vgpu_tref out;    /* [m, n] */
  struct hix_vgpu_tref a;      /* [m, k] */
  struct hix_vgpu_tref b;      /* [k, n], or [n, k] with TRANS_B */
  struct hix_vgpu_tref bias;   /* [n] or handle 0 */
  uint32_t m;
  uint32_t n;
  uint32_t k;
  uint32_t reserved;
};

/* ADD and MUL: out[i] = a[i] op b[i % nb]. */
struct hix_vgpu_op_binary {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref out;
  struct hix_vgpu_tref a;
  struct hix_vgpu_tref b;
  uint64_t n;
  uint64_t nb;
};

struct hix_vgpu_op_layernorm {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref out;
  struct hix_vgpu_tref x; /* [rows, cols] */
  struct hix_vgpu_tref gamma;
  struct hix_vgpu_tref beta;
  uint32_t rows;
  uint32_t cols;
  float eps;
  uint32_t reserved;
};

struct hix_vgpu_op_rmsnorm {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref out;
  struct hix_vgpu_tref x; /* [rows, cols] */
  struct hix_vgpu_tref gamma;
  uint32_t rows;
  uint32_t cols;
  float eps;
  uint32_t reserved;
};

/* GELU and SILU. */
struct hix_vgpu_op_unary {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref out;
  struct hix_vgpu_tref x;
  uint64_t count;
};

/* SOFTMAX and ARGMAX (out is i32 for ARGMAX). */
struct hix_vgpu_op_rows {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref out;
  struct hix_vgpu_tref x; /* [rows, cols] */
  uint32_t rows;
  uint32_t cols;
};

struct hix_vgpu_op_rope {
  struct hix_vgpu_op_header h; /* flags: HIX_VGPU_BATCH */
  struct hix_vgpu_tref out;
  struct hix_vgpu_tref x; /* [tokens, heads, head_dim] */
  uint32_t tokens;
  uint32_t heads;
  uint32_t head_dim;
  uint32_t rot_dim;
  uint32_t pos;
  uint8_t pos_reg; /* HIX_VGPU_REG_NONE or a scalar register added to pos */
  uint8_t reserved[3];
  float theta;
  uint32_t reserved2;
};

/* ROPE with Llama 3's frequency scaling (spec §6.4): ROPE's fields in ROPE's
 * order, then the scaling's. */
struct hix_vgpu_op_rope_llama3 {
  struct hix_vgpu_op_header h; /* flags: HIX_VGPU_BATCH */
  struct hix_vgpu_tref out;
  struct hix_vgpu_tref x; /* [tokens, heads, head_dim] */
  uint32_t tokens;
  uint32_t heads;
  uint32_t head_dim;
  uint32_t rot_dim;
  uint32_t pos;
  uint8_t pos_reg; /* HIX_VGPU_REG_NONE or a scalar register added to pos */
  uint8_t reserved[3];
  float theta;
  float factor;              /* long wavelengths' frequencies are divided by it */
  float low_freq_factor;     /* wavelengths above original_max_pos / this are long */
  float high_freq_factor;    /* wavelengths below original_max_pos / this are kept */
  uint32_t original_max_pos; /* the context the model was first trained for */
  uint32_t reserved2;
};

struct hix_vgpu_op_attention {
  struct hix_vgpu_op_header h;  /* flags: HIX_VGPU_BATCH */
  struct hix_vgpu_tref out;     /* [tokens, q_heads, head_dim] */
  struct hix_vgpu_tref q;       /* [tokens, q_heads, head_dim] */
  struct hix_vgpu_tref k;       /* [tokens, kv_heads, head_dim] */
  struct hix_vgpu_tref v;       /* [tokens, kv_heads, head_dim] */
  struct hix_vgpu_tref k_cache; /* [max_seq, kv_heads, head_dim]; BATCH: tokens of them */
  struct hix_vgpu_tref v_cache; /* [max_seq, kv_heads, head_dim]; BATCH: tokens of them */
  uint32_t tokens;
  uint32_t q_heads;
  uint32_t kv_heads;
  uint32_t head_dim;
  uint32_t max_seq;
  uint32_t pos;
  uint8_t pos_reg;
  uint8_t reserved[3];
  float scale;
};

struct hix_vgpu_op_sample {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref out; /* i32 [rows] */
  struct hix_vgpu_tref x;   /* [rows, cols] */
  uint32_t rows;
  uint32_t cols;
  float temperature;
  uint32_t top_k; /* 0 = all */
  uint64_t seed;
};

/* SET_REG and ADD_REG. */
struct hix_vgpu_op_reg {
  struct hix_vgpu_op_header h;
  uint32_t reg;
  int32_t value;
};

struct hix_vgpu_op_loop {
  struct hix_vgpu_op_header h;
  uint32_t count;    /* 1..HIX_VGPU_LOOP_MAX */
  uint32_t body_ops; /* the next body_ops ops form the body */
};

struct hix_vgpu_op_break_if_eq {
  struct hix_vgpu_op_header h;
  struct hix_vgpu_tref x; /* i32, one element */
  int32_t value;
  uint32_t reserved;
};

HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_cmdbuf_header) == 16, "spec §6.1");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_header) == 8, "spec §6.1");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_tref) == 24, "spec §6.2");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_nop) == 8, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_fill) == 48, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_copy) == 64, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_dma) == 48, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_dma_crypt) == 64, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_dma_peer) == 64, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_embedding) == 96, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_matmul) == 120, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_binary) == 96, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_layernorm) == 120, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_rmsnorm) == 96, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_unary) == 64, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_rows) == 64, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_rope) == 88, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_rope_llama3) == 104, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_attention) == 184, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_sample) == 80, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_reg) == 16, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_loop) == 16, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(struct hix_vgpu_op_break_if_eq) == 40, "record size");
HIX_VGPU_STATIC_ASSERT(sizeof(float) == 4, "f32 fields are IEEE binary32");

#endif /* HIX_ABI_VGPU_CMD_H */
