// The C# binding under Mono (tests/csharptest.sh): option structs match the C layout, a short InstDisc
// run on generated data learns, status codes become LctException with the library's message, and
// handles disposed in the wrong order are still freed in the right one. Prints "N passed, N failed".
using System;
using System.IO;
using Libcontrast;

static class BindingTest
{
    static int passed, failed;

    static void Check(bool ok, string what)
    {
        if (ok) passed++;
        else {
            failed++;
            Console.WriteLine("FAIL: " + what);
        }
    }

    static Status StatusOf(Action a, out string message)
    {
        message = "";
        try {
            a();
            return Status.Ok;
        } catch (LctException e) {
            message = e.Message;
            return e.Status;
        }
    }

    static void OptionLayouts()
    {
        // Fields past the first pointer or double land where the C library writes its defaults.
        RuntimeOptions ro = RuntimeOptions.Defaults();
        Check(ro.Version == 2 && ro.Threads == 1 && ro.LogLevel == 1 && ro.Scheduler == IntPtr.Zero,
              "runtime options defaults");
        OptimizerOptions oo = OptimizerOptions.Defaults();
        Check(oo.Lr == 0.01 && oo.DecayAll == 1 && oo.Beta2 == 0.999 && oo.Eps == 1e-8 && oo.Gamma == 0.1 &&
              oo.MilestoneCount == UIntPtr.Zero, "optimizer options defaults");
        LossNceOptions no = LossNceOptions.Defaults();
        Check(no.K == 4096 && no.ZPolicy == 0, "NCE options defaults");
        AugmenterOptions ao = AugmenterOptions.Defaults();
        Check(ao.Channels == 3 && ao.Height == 32 && ao.Width == 32, "augmenter options defaults");
    }

    // InstDisc (non-parametric softmax) on 64 generated 8x8 images: the loss of the last epoch is below the first's.
    static void InstDisc(string dir)
    {
        const int N = 64, B = 16, Side = 8, Pixels = Side * Side, Dim = 16, Epochs = 8;
        var data = new byte[N * Pixels];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)((i * 37 + (i / Pixels) * 11) % 251);
        using (var rt = new Runtime(1, 7)) {
            AugmenterOptions ao = AugmenterOptions.Defaults();
            ao.Channels = 1;
            ao.Height = Side;
            ao.Width = Side;
            var aug = new Augmenter(rt, ao);
            aug.AddHFlip(0.5);
            var enc = new Encoder(rt, "in 1x8x8; flatten; linear 32; relu; linear 16; l2norm");
            var bank = new Bank(rt, N, Dim);
            var loss = Loss.NpSoftmax(rt, bank);
            loss.SetParam(1, 0.07);
            OptimizerOptions oo = OptimizerOptions.Defaults();
            oo.Lr = 0.05;
            oo.Momentum = 0.9;
            var opt = new Optimizer(rt, oo);
            opt.Attach(enc.Params);

            var images = new byte[B * Pixels];
            var x = new float[B * Pixels];
            var f = new float[B * Dim];
            var df = new float[B * Dim];
            var idx = new long[B];
            double first = 0, last = 0;
            for (int e = 0; e < Epochs; e++) {
                double sum = 0;
                for (int s = 0; s < N / B; s++) {
                    for (int b = 0; b < B; b++) {
                        idx[b] = ((s * B + b) * 5 + e) % N;
                        Array.Copy(data, idx[b] * Pixels, images, b * Pixels, Pixels);
                    }
                    aug.Apply(images, B, 1, x);
                    enc.Forward(x, B, f);
                    sum += loss.Compute(f, idx, B, df);
                    opt.ZeroGrad();
                    enc.Backward(df, B);
                    opt.Step();
                    bank.Update(f, idx, B, 0.5f);
                }
                if (e == 0) first = sum / (N / B);
                last = sum / (N / B);
            }
            Console.WriteLine("InstDisc loss: first epoch {0:F4}, last epoch {1:F4}", first, last);
            Check(!double.IsNaN(last) && last < first, "the InstDisc loss falls");

            // InstDisc's other objective, NCE with K noise rows, on the trained bank.
            LossNceOptions no = LossNceOptions.Defaults();
            no.K = 32;
            using (var nce = Loss.Nce(rt, bank, no)) {
                float value = nce.Compute(f, idx, B, df);
                Check(!float.IsNaN(value) && value > 0, "an NCE step gives a finite loss (" + value + ")");
            }

            // A checkpoint of the encoder and the bank, loaded into fresh handles.
            string path = Path.Combine(dir, "binding.ckpt");
            using (var w = new CheckpointWriter(rt)) {
                w.Add("encoder", enc);
                w.Add("bank", bank);
                w.AddCounter("epochs", Epochs);
                w.WriteFile(path);
            }
            using (var rt2 = new Runtime(1, 8))
            using (var enc2 = new Encoder(rt2, enc.Spec))
            using (var r = new CheckpointReader(rt2, path)) {
                r.Load("encoder", enc2);
                Check(r.Counter("epochs") == Epochs, "checkpoint counter");
                float[] a = enc.Params.Read(0), b2 = enc2.Params.Read(0);
                bool same = a.Length == b2.Length;
                for (int i = 0; same && i < a.Length; i++) same = a[i] == b2[i];
                Check(same, "checkpoint restores the encoder's weights");
            }
            foreach (IDisposable h in new IDisposable[] { opt, loss, bank, enc, aug }) h.Dispose();
        }
    }

    static void Errors()
    {
        string msg;
        using (var rt = new Runtime(1, 1)) {
            Check(StatusOf(() => new Encoder(rt, "in 4; linaer 3"), out msg) == Status.Format && msg.Contains("linaer"),
                  "a malformed spec is Status.Format naming the token (" + msg + ")");
            var enc = new Encoder(rt, "in 4; linear 3");
            enc.Seal();
            enc.Seal();
            Check(enc.OutputSize == 3, "a sealed encoder keeps its shape, and sealing twice is fine");
            Check(StatusOf(() => enc.SetMode(7), out msg) == Status.Invalid && msg.Contains("lct_encoder_set_mode"),
                  "a bad mode is Status.Invalid from lct_encoder_set_mode (" + msg + ")");
            Check(StatusOf(() => enc.Forward(new float[8], 2, new float[5]), out msg) == Status.Shape && msg.Contains("'y'"),
                  "a short output array is Status.Shape (" + msg + ")");
            Check(StatusOf(() => new Runtime(0, 0), out msg) == Status.Invalid, "zero threads is Status.Invalid");
            enc.Dispose();
            bool disposed = false;
            try {
                enc.SetMode(1);
            } catch (ObjectDisposedException) {
                disposed = true;
            }
            Check(disposed, "a disposed handle is refused by the marshaller");
        }
    }

    static void FreeOrder()
    {
        // The runtime disposed first: it is freed only when the last handle borrowing it is.
        var rt = new Runtime(1, 3);
        var bank = new Bank(rt, 32, 8);
        var loss = Loss.NpSoftmax(rt, bank);
        rt.Dispose();
        bank.Dispose();
        Check(!loss.IsClosed, "the loss outlives the runtime and the bank it borrows");
        var f = new float[4 * 8];
        for (int i = 0; i < f.Length; i++) f[i] = (i % 8 == 0) ? 1 : 0;
        float value = loss.Compute(f, new long[] { 0, 1, 2, 3 }, 4);
        Check(!float.IsNaN(value), "the loss computes over its borrowed bank after both were disposed");
        loss.Dispose();
        // Left to the garbage collector instead: finalizers run in any order, the frees do not.
        for (int i = 0; i < 50; i++) {
            var r = new Runtime(1, (ulong)i);
            var b = new Bank(r, 16, 4);
            Loss.NpSoftmax(r, b);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Check(true, "handles left to the garbage collector are freed without a crash");
    }

    static int Main(string[] args)
    {
        string dir = args.Length > 0 ? args[0] : ".";
        Console.WriteLine("libcontrast {0} ({1}) under the C# binding", Library.Version, Library.VersionNumber);
        Check(Library.VersionNumber / 1000000 == 0 && Library.VersionNumber >= 2000, "library version 0.2 or later");
        foreach (Action t in new Action[] { OptionLayouts, () => InstDisc(dir), Errors, FreeOrder }) {
            try {
                t();
            } catch (Exception e) {
                Check(false, "unexpected " + e.GetType().Name + ": " + e.Message);
            }
        }
        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }
}
