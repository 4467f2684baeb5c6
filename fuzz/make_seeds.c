// Writes the seed corpora of the fuzz harnesses (tests/corpus/NAME/): small valid files of each
// kind, made with cdrl's own writers (checkpoints, safetensors, PNG), libjpeg (JPEG) and by
// hand (IDX, CIFAR-10 records, CSV, argument vectors). Deterministic: `make fuzz-seeds`
// rewrites the same bytes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "cdrl.h"

static char root[256];

static void put(const char *name, const char *file, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, name, file);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
}

static void put_text(const char *name, const char *file, const char *text) {
    put(name, file, text, strlen(text));
}

static void path_of(char *out, size_t n, const char *name, const char *file) {
    snprintf(out, n, "%s/%s", root, name);
    mkdir(out, 0755);
    snprintf(out, n, "%s/%s/%s", root, name, file);
}

static void checkpoints(void) {
    // a tiny 2-D model and a tiny image model, their configurations as JSON
    cdrl_config c[2];
    cdrl_config_preset(&c[0], "demo");
    c[0].ebm_ch = 4, c[0].init_t_dim = 4, c[0].init_h_dim = 32, c[0].batch = 4;
    cdrl_config_preset(&c[1], "tiny-image");
    c[1].ebm_ch = 4, c[1].unet_levels = 1, c[1].batch = 2;
    for (int i = 0; i < 2; i++) {
        cdrl_model *m = NULL;
        char path[512], json[8192], file[32];
        if (cdrl_model_create(&m, &c[i]) != CDRL_OK) {
            fprintf(stderr, "make_seeds: cannot make the %s model\n", i ? "image" : "toy");
            exit(1);
        }
        // the image checkpoint (3 MB: the U-Net's smallest width, four copies of each weight) is
        // too large for a seed; its configuration seeds the JSON harness
        snprintf(file, sizeof file, "%s.safetensors", i ? "image" : "toy");
        path_of(path, sizeof path, "checkpoint", file);
        if (i == 0 && cdrl_model_save(m, path) != CDRL_OK) {
            fprintf(stderr, "make_seeds: cannot make the %s checkpoint\n", file);
            exit(1);
        }
        cdrl_model_free(m);
        cdrl_config_to_json(&c[i], json, sizeof json);
        snprintf(file, sizeof file, "%s.json", i ? "image" : "toy");
        put_text("config", file, json);
    }
    // plain safetensors: every dtype, metadata
    cdrl_st_writer *w = cdrl_st_writer_create();
    const float f[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    const double d[2] = {0.25, -8};
    const int64_t l[3] = {1, 2, 3};
    const int32_t i32[2] = {-1, 4};
    const uint8_t u8[4] = {0, 1, 254, 255};
    char path[512];
    path_of(path, sizeof path, "safetensors", "dtypes.safetensors");
    if (!w || cdrl_st_writer_add_f32(w, "f", 2, (int64_t[]){2, 3}, f) != CDRL_OK ||
        cdrl_st_writer_add(w, "d", CDRL_ST_F64, 1, (int64_t[]){2}, d) != CDRL_OK ||
        cdrl_st_writer_add(w, "l", CDRL_ST_I64, 1, (int64_t[]){3}, l) != CDRL_OK ||
        cdrl_st_writer_add(w, "i", CDRL_ST_I32, 2, (int64_t[]){1, 2}, i32) != CDRL_OK ||
        cdrl_st_writer_add(w, "u", CDRL_ST_U8, 1, (int64_t[]){4}, u8) != CDRL_OK ||
        cdrl_st_writer_meta(w, "config", "{\"batch\": 4}") != CDRL_OK ||
        cdrl_st_writer_save(w, path) != CDRL_OK) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
    cdrl_st_writer_free(w);
    // the weights-only form of official checkpoints (tools/convert_official.py): its metadata
    // and one tensor; the loader reads the sizes, builds the model, then misses the rest
    w = cdrl_st_writer_create();
    path_of(path, sizeof path, "checkpoint", "official-weights.safetensors");
    if (!w || cdrl_st_writer_add_f32(w, "ebm.final.weight", 2, (int64_t[]){2, 3}, f) != CDRL_OK ||
        cdrl_st_writer_meta(w, "format", "cdrl-image-weights") != CDRL_OK ||
        cdrl_st_writer_meta(w, "version", "1") != CDRL_OK ||
        cdrl_st_writer_meta(w, "ebm_ema.num_updates", "7") != CDRL_OK ||
        cdrl_st_writer_meta(
            w, "config",
            "{\"ebm\": {\"in_ch\": 1, \"res\": 8, \"ch\": 4, \"ch_mult\": [1, 2], \"n_blocks\": 1, "
            "\"temb_dim\": 4, \"n_classes\": 0}, \"unet\": {\"in_ch\": 1, \"resolution\": 8, "
            "\"dim\": 32, \"dim_mults\": [1], \"num_res_blocks\": 1, \"attn_resolutions\": [], "
            "\"dropout\": 0.0, \"n_classes\": 0}}") != CDRL_OK ||
        cdrl_st_writer_save(w, path) != CDRL_OK) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
    cdrl_st_writer_free(w);
    path_of(path, sizeof path, "safetensors", "toy.safetensors");
    char from[512];
    snprintf(from, sizeof from, "%s/checkpoint/toy.safetensors", root);
    FILE *a = fopen(from, "rb"), *b = fopen(path, "wb");
    int ch;
    while (a && b && (ch = fgetc(a)) != EOF)
        fputc(ch, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

static void images(void) {
    uint8_t px[8 * 8 * 3];
    for (int i = 0; i < 8 * 8 * 3; i++)
        px[i] = (uint8_t)(i * 37);
    char path[512];
    const char *keys[] = {"Software"}, *vals[] = {"cdrl make_seeds"};
    path_of(path, sizeof path, "png", "grey.png");
    cdrl_png_write(path, px, 8, 8, 1, keys, vals, 1);
    path_of(path, sizeof path, "png", "rgb.png");
    cdrl_png_write(path, px, 8, 8, 3, NULL, NULL, 0);
    // JPEG: one colour and one grey 8x8 image
    for (int colour = 0; colour < 2; colour++) {
        path_of(path, sizeof path, "jpeg", colour ? "rgb.jpg" : "grey.jpg");
        FILE *f = fopen(path, "wb");
        struct jpeg_compress_struct c;
        struct jpeg_error_mgr e;
        c.err = jpeg_std_error(&e);
        jpeg_create_compress(&c);
        jpeg_stdio_dest(&c, f);
        c.image_width = 8, c.image_height = 8;
        c.input_components = colour ? 3 : 1;
        c.in_color_space = colour ? JCS_RGB : JCS_GRAYSCALE;
        jpeg_set_defaults(&c);
        jpeg_set_quality(&c, 90, TRUE);
        jpeg_start_compress(&c, TRUE);
        while (c.next_scanline < 8) {
            JSAMPROW row = px + c.next_scanline * 8 * (colour ? 3 : 1);
            jpeg_write_scanlines(&c, &row, 1);
        }
        jpeg_finish_compress(&c);
        jpeg_destroy_compress(&c);
        fclose(f);
    }
    // IDX (the harness's input: two length bytes, the labels file, the images file), 3 images
    // of 4x4 with labels 0, 7, 9
    uint8_t idx[2 + 8 + 3 + 16 + 48];
    const uint8_t lab[11] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 7, 9};
    const uint8_t img_head[16] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4};
    idx[0] = 0, idx[1] = 11;
    memcpy(idx + 2, lab, 11);
    memcpy(idx + 13, img_head, 16);
    for (int i = 0; i < 48; i++)
        idx[29 + i] = (uint8_t)(i * 5);
    put("idx", "three.bin", idx, sizeof idx);
    // CIFAR-10: two records of label + 3 x 32 x 32 bytes
    static uint8_t cifar[2 * 3073];
    for (int i = 0; i < 2 * 3073; i++)
        cifar[i] = (uint8_t)(i * 13);
    cifar[0] = 3, cifar[3073] = 9;
    put("cifar", "two.bin", cifar, sizeof cifar);
}

static void text(void) {
    put_text("csv", "plain.csv", "0.5,1\n-2,3.25\n1e-3,-4\n");
    put_text("csv", "header.csv", "x,y\n0,0\n1,1\n");
    put_text("csv", "labels.csv", "x,y,quadrant,colour\n0.5,1,0,2\n-1,2,1,0\n3,-4,3,1\n");
    static const char a1[] = "--int\0"
                             "5\0"
                             "-F\0"
                             "--float=2.5\0"
                             "pos";
    static const char a2[] = "-n7\0"
                             "--seed\0"
                             "18446744073709551615\0"
                             "--\0"
                             "-x";
    static const char a3[] = "--str\0"
                             "out.png\0"
                             "-t\0"
                             "2\0"
                             "--long=12\0"
                             "--backend\0"
                             "ref";
    put("args", "a1", a1, sizeof a1 - 1);
    put("args", "a2", a2, sizeof a2 - 1);
    put("args", "a3", a3, sizeof a3 - 1);
}

int main(int argc, char **argv) {
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : "tests/corpus");
    mkdir(root, 0755);
    checkpoints();
    images();
    text();
    return 0;
}
