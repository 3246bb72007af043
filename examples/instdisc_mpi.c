/*
 * instdisc_mpi: InstDisc on Fashion-MNIST over MPI ranks: data-parallel SGD, the memory bank sharded.
 *
 * Every rank holds a copy of the encoder and 1/P of the memory bank (lct_bank_new_sharded). A global
 * batch of --batch images is split in P slices, one per rank; the NCE loss draws its negatives over
 * the whole bank and gathers only the scores of the rows each rank owns; the optimiser averages the
 * gradients; each bank row is updated by its owner. Evaluation: weighted kNN (k 200) of the test set
 * against the train embeddings, held in the sharded bank and merged over the ranks. Launch (docs/distributed.md):
 *
 *   mpirun -np 2 build/examples/instdisc_mpi --limit 2000 --epochs 2
 *   (as root add --allow-run-as-root; more ranks than cores: --oversubscribe)
 *
 *   instdisc_mpi [--epochs N] [--batch N (global, a multiple of the ranks)] [--threads N per rank]
 *                [--seed N] [--save PREFIX] [--data DIR] [--limit N] [--k K] [--lr LR] [--spec S]
 * --save writes one checkpoint per rank, PREFIX.rank<r>.ckpt (a sharded bank resumes on the same
 * number of ranks only).
 */
#include <libcontrast/libcontrast.h>
#include <libcontrast/mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "flags.h"
#include "idx.h"
#include "train.h"

#define PIXELS (28 * 28)

static const char *default_spec =
    "in 1x28x28; conv2d 32 k3 p1; bn; relu; maxpool 2; conv2d 64 k3 p1; bn; relu; maxpool 2; "
    "flatten; linear 512; bn; relu; linear 128; l2norm";

/* This rank's checkpoint, PREFIX.rankR.ckpt: encoder, optimiser, bank shard, loss and runtime. */
static void save_rank(lct_runtime *rt, const char *prefix, int rank, lct_encoder *enc, lct_optimizer *opt,
                      lct_bank *bank, lct_loss *loss)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.rank%d.ckpt", prefix, rank);
    lct_checkpoint_writer *w;
    CHECK(lct_checkpoint_writer_new(&w, rt, NULL));
    CHECK(lct_checkpoint_add_encoder(w, "encoder", enc));
    CHECK(lct_checkpoint_add_optimizer(w, "optimizer", opt));
    CHECK(lct_checkpoint_add_bank(w, "bank", bank));
    CHECK(lct_checkpoint_add_loss(w, "loss", loss));
    CHECK(lct_checkpoint_add_runtime(w));
    CHECK(lct_checkpoint_write_file(w, path));
    lct_checkpoint_writer_free(w);
    if (rank == 0) printf("instdisc_mpi: saved %s.rank*.ckpt\n", prefix);
}

/*
 * kNN top-1 of the q test images over the sharded bank. Batch-norm statistics are per rank (each
 * normalises its own slice): rank 0's are broadcast so that every rank embeds alike. Each rank then
 * fills its shard of the bank (rows first_row .. first_row + rows) with the trained encoder's
 * embeddings of its own images, and the test embeddings (the same on every rank) are classified by
 * weighted kNN over the shards.
 */
static double evaluate(lct_encoder *enc, lct_comm *comm, lct_bank *bank, const fmnist *data, size_t n, size_t q,
                       size_t dim, size_t first_row, size_t rows)
{
    CHECK(lct_params_broadcast(lct_encoder_params(enc), comm, 0));
    int32_t *train_labels = labels_int32(data->train.labels, n), *test_labels = labels_int32(data->test.labels, q);
    float *shard_emb = malloc(rows * dim * sizeof *shard_emb), *test_emb = malloc(q * dim * sizeof *test_emb);
    int32_t *pred = malloc(q * sizeof *pred);
    if (!train_labels || !test_labels || !shard_emb || !test_emb || !pred) MPI_Abort(MPI_COMM_WORLD, 1);
    CHECK(embed_images(enc, data->train.images + first_row * PIXELS, rows, PIXELS, 500, shard_emb));
    CHECK(lct_bank_set_rows(bank, first_row, rows, shard_emb));
    CHECK(embed_images(enc, data->test.images, q, PIXELS, 500, test_emb));
    CHECK(lct_knn_classify_bank(bank, train_labels, test_emb, q, n < 200 ? n : 200, 0.07f, 10, pred, NULL));
    size_t hits = 0;
    for (size_t i = 0; i < q; i++) hits += pred[i] == test_labels[i];
    free(pred);
    free(test_emb);
    free(shard_emb);
    free(test_labels);
    free(train_labels);
    return (double)hits / (double)q;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    example_args args;
    example_args_defaults(&args);
    args.epochs = 2;
    args.threads = 1;
    int k = 4096, limit = 0;
    float lr = 0.03f, momentum = 0.5f;
    const char *spec = default_spec;
    flag table[] = {
        FLAGS_COMMON(&args),
        {"k", FLAG_INT, &k, "noise samples per image (NCE)", 1, 1 << 20},
        FLAG_SGD_LR(&lr),
        FLAG_SPEC(&spec),
        FLAG_LIMIT(&limit),
    };
    flags_parse_or_exit(table, FLAGS_COUNT(table), argc, argv, "InstDisc on Fashion-MNIST over MPI");

    fmnist data;
    size_t n, q, batch;
    train_load_data(&args, limit, &data, &n, &q, &batch);
    batch -= batch % (size_t)P;
    if (batch == 0) {
        if (rank == 0) fprintf(stderr, "instdisc_mpi: the global batch must hold at least one image per rank\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    size_t local = batch / (size_t)P;

    /* Every rank creates the same handles in the same order from the same seed. */
    lct_runtime *rt = train_runtime(&args);
    lct_comm *comm;
    CHECK(lct_comm_new_mpi(&comm, rt, MPI_COMM_WORLD));
    lct_encoder *enc = train_encoder(rt, spec, &args);
    size_t dim;
    CHECK(lct_encoder_output_size(enc, &dim));
    CHECK(lct_params_broadcast(lct_encoder_params(enc), comm, 0));
    lct_bank *bank;
    CHECK(lct_bank_new_sharded(&bank, rt, n, dim, comm, NULL));
    size_t first_row, rows;
    CHECK(lct_bank_shard(bank, &first_row, &rows, NULL, NULL));
    lct_loss_nce_options lo;
    lct_loss_nce_options_init(&lo, LCT_LOSS_NCE_OPTIONS_VERSION);
    lo.k = (uint32_t)k;
    lct_loss *loss;
    CHECK(lct_loss_new_nce(&loss, rt, bank, &lo));
    size_t steps = n / batch;
    lct_optimizer *opt = train_optimizer(rt, LCT_OPTIMIZER_SGD, lr, 0.9, 5e-4, (uint64_t)args.epochs * steps, 0);
    CHECK(lct_optimizer_attach(opt, lct_encoder_params(enc)));
    CHECK(lct_optimizer_set_comm(opt, comm));
    lct_augmenter *aug = train_image_augmenter(rt);
    CHECK(lct_augmenter_preset(aug, LCT_AUG_PRESET_INSTDISC));

    uint8_t *images = malloc(local * PIXELS);
    float *x = malloc(local * PIXELS * sizeof *x), *f = malloc(local * dim * sizeof *f);
    float *df = malloc(local * dim * sizeof *df);
    int64_t *order = malloc(n * sizeof *order);
    if (!images || !x || !f || !df || !order) {
        fprintf(stderr, "instdisc_mpi: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0) {
        printf("instdisc_mpi: %d rank(s) x %d thread(s), %zu train / %zu test images, global batch %zu (%zu per rank)\n",
               P, lct_runtime_threads(rt), n, q, batch, local);
        printf("instdisc_mpi: bank %zu x %zu sharded, %zu rows on rank 0\n", n, dim, rows);
        fflush(stdout);
    }

    /* Training: the same shuffle on every rank; rank r takes slice r of each global batch. */
    double t0 = MPI_Wtime(), t_local = 0.0, t_coll = 0.0; /* augment/forward/backward vs the collective calls */
    float value = 0.0f;
    for (int epoch = 1; epoch <= args.epochs; epoch++) {
        train_shuffle(order, n, args.seed, epoch);
        for (size_t s = 0; s < steps; s++) {
            const int64_t *idx = order + s * batch + (size_t)rank * local;
            double ta = MPI_Wtime();
            train_gather(images, data.train.images, idx, local, PIXELS);
            CHECK(lct_augmenter_apply(aug, images, local, 1, x));
            CHECK(lct_encoder_forward(enc, x, local, f));
            double tb = MPI_Wtime();
            CHECK(lct_loss_nce_compute(loss, f, idx, local, &value, df));
            double tc = MPI_Wtime();
            CHECK(lct_optimizer_zero_grad(opt));
            CHECK(lct_encoder_backward(enc, df, local, NULL));
            double td = MPI_Wtime();
            CHECK(lct_optimizer_step(opt));
            CHECK(lct_bank_update(bank, f, idx, local, momentum));
            double te = MPI_Wtime();
            t_local += (tb - ta) + (td - tc);
            t_coll += (tc - tb) + (te - td);
        }
        if (rank == 0) {
            printf("instdisc_mpi: epoch %d loss %.4f\n", epoch, value);
            fflush(stdout);
        }
    }
    double seconds = MPI_Wtime() - t0;
    if (rank == 0)
        printf("instdisc_mpi: %.1f samples/s (%zu steps of %zu images in %.2f s; rank 0: %.2f s augment, forward and "
               "backward, %.2f s in the calls that exchange: NCE, optimiser step, bank update)\n",
               (double)(steps * (size_t)args.epochs * batch) / seconds,
               steps * (size_t)args.epochs, batch, seconds, t_local, t_coll);

    if (args.save) save_rank(rt, args.save, rank, enc, opt, bank, loss);
    double acc = evaluate(enc, comm, bank, &data, n, q, dim, first_row, rows);
    if (rank == 0) printf("kNN top-1 (bank): %.4f\n", acc);

    void *buffers[] = {df, f, x, order, images};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) free(buffers[i]);
    lct_augmenter_free(aug);
    lct_optimizer_free(opt);
    lct_loss_free(loss);
    lct_bank_free(bank);
    lct_encoder_free(enc);
    lct_comm_free(comm);
    lct_runtime_free(rt);
    fmnist_free(&data);
    MPI_Finalize();
    return 0;
}
