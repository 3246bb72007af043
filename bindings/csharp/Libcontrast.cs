// C# binding of libcontrast (P/Invoke), for Unity native plugins and any .NET or Mono host.
//
// Each handle of the C API is a SafeHandle subclass that frees it once, and only after the handles it
// borrows: an Encoder holds a reference on its Runtime, a Loss on its Bank, an Optimizer on the owners
// of the parameter sets attached to it. Disposing (or losing) them in any order, or leaving them to the
// garbage collector, therefore frees the runtime last, as the C API requires. Every failing call throws
// LctException with the Status and lct_error_last()'s message; arrays too small for a call throw it
// with Status.Shape before anything reaches the library. Arrays are passed pinned, never copied.
//
// Placement in a Unity project, and the other platforms: bindings/csharp/README.md.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Libcontrast
{
    /// <summary>libcontrast's status codes (lct_status); the numbers are part of its ABI.</summary>
    public enum Status
    {
        Ok = 0, Invalid = -1, NoMemory = -2, Shape = -3, IO = -4, Format = -5, Numeric = -6, Version = -7,
        State = -8, Range = -9, Unsupported = -10, Checksum = -11, Mismatch = -12, Comm = -13,
        NotFound = -14
    }

    /// <summary>A failed libcontrast call: its status and the library's message.</summary>
    public class LctException : Exception
    {
        public Status Status { get; private set; }
        public int Code { get; private set; }

        public LctException(int code, string message) : base(message)
        {
            Code = code;
            Status = (Status)code;
        }

        /// <summary>Throws for a negative return code, with lct_error_last() (or the status's name).</summary>
        public static int Check(int rc)
        {
            if (rc >= 0) return rc;
            string message = Native.Text(Native.lct_error_last());
            throw new LctException(rc, message.Length > 0 ? message : Native.Text(Native.lct_status_string(rc)));
        }

        internal static void Need(Array a, long count, long per, string where, string what, bool optional = false)
        {
            if ((a == null && optional) || (a != null && a.LongLength >= count * per)) return;
            throw new LctException((int)Status.Shape, string.Format("Libcontrast.{0}: '{1}' holds {2} elements, {3} x {4} needed",
                where, what, a == null ? 0 : a.LongLength, count, per));
        }
    }

    /// <summary>The base of every handle: frees the C handle once, then releases the handles it borrows.</summary>
    public abstract class LctHandle : SafeHandle
    {
        readonly List<SafeHandle> borrowed = new List<SafeHandle>();

        protected LctHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>Take the C handle a constructor returned, and keep the handles it borrows alive until it is freed.</summary>
        protected void Adopt(int rc, IntPtr created, params SafeHandle[] borrows)
        {
            LctException.Check(rc);
            SetHandle(created);
            foreach (SafeHandle b in borrows) Borrow(b);
        }

        internal void Borrow(SafeHandle other)
        {
            bool added = false;
            other.DangerousAddRef(ref added);
            if (added) lock (borrowed) borrowed.Add(other);
        }

        protected abstract void Free(IntPtr h);

        protected override bool ReleaseHandle()
        {
            Free(handle);
            lock (borrowed) {
                foreach (SafeHandle b in borrowed) b.DangerousRelease();
                borrowed.Clear();
            }
            return true;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct RuntimeOptions
    {
        public uint Version;
        public uint Threads;
        public ulong Seed;
        public IntPtr Alloc, Free, AllocUser, Log, LogUser;
        public int LogLevel;
        public IntPtr Scheduler;

        public static RuntimeOptions Defaults() { return Native.Defaults<RuntimeOptions>(Native.lct_runtime_options_init, 2); }
    }

    public enum OptimizerKind { Sgd = 0, Adam = 1, AdamW = 2 }

    [StructLayout(LayoutKind.Sequential)]
    public struct OptimizerOptions
    {
        public uint Version;
        public int Kind;
        public double Lr, Momentum, Dampening;
        public int Nesterov;
        public double WeightDecay;
        public int DecayAll;
        public double Beta1, Beta2, Eps;
        public int Schedule;
        public ulong WarmupSteps, TotalSteps;
        public double MinLr, Gamma;
        public IntPtr Milestones;
        public UIntPtr MilestoneCount;

        public static OptimizerOptions Defaults() { return Native.Defaults<OptimizerOptions>(Native.lct_optimizer_options_init, 1); }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct LossNceOptions
    {
        public uint Version, K;
        public int SampleMode, ZPolicy;

        public static LossNceOptions Defaults() { return Native.Defaults<LossNceOptions>(Native.lct_loss_nce_options_init, 1); }
    }

    public enum AugmenterInput { ImageU8 = 0, ImageF32 = 1, SignalF32 = 2 }

    [StructLayout(LayoutKind.Sequential)]
    public struct AugmenterOptions
    {
        public uint Version;
        public int Input;
        public uint Channels, Height, Width, OutHeight, OutWidth;

        public static AugmenterOptions Defaults() { return Native.Defaults<AugmenterOptions>(Native.lct_augmenter_options_init, 1); }
    }

    /// <summary>Threads, seed and BLIS kernels; every other handle is made from one.</summary>
    public sealed class Runtime : LctHandle
    {
        public Runtime(RuntimeOptions options)
        {
            IntPtr p;
            Adopt(Native.lct_runtime_new(out p, ref options), p);
        }

        public Runtime(uint threads = 1, ulong seed = 0) : this(With(threads, seed)) { }

        static RuntimeOptions With(uint threads, ulong seed)
        {
            RuntimeOptions o = RuntimeOptions.Defaults();
            o.Threads = threads;
            o.Seed = seed;
            return o;
        }

        public int Threads { get { return LctException.Check(Native.lct_runtime_threads(this)); } }
        public ulong Seed { get { return Native.lct_runtime_seed(this); } }
        public string Kernel { get { return Native.Text(Native.lct_runtime_kernel(this, IntPtr.Zero)); } }
        protected override void Free(IntPtr h) { Native.lct_runtime_free(h); }
    }

    /// <summary>A parameter set, owned by an encoder or a loss (kept alive by this view).</summary>
    public struct Params
    {
        internal readonly LctHandle Owner;
        internal readonly IntPtr Ptr;

        internal Params(LctHandle owner, IntPtr ptr)
        {
            Owner = owner;
            Ptr = ptr;
        }

        public int Count { get { int n = LctException.Check(Native.lct_params_count(Ptr)); GC.KeepAlive(Owner); return n; } }

        public float[] Read(int index)
        {
            IntPtr name;
            UIntPtr size;
            int trainable;
            LctException.Check(Native.lct_params_info(Ptr, (UIntPtr)index, out name, out size, out trainable));
            var values = new float[(long)size];
            LctException.Check(Native.lct_params_get(Ptr, (UIntPtr)index, values, size));
            GC.KeepAlive(Owner);
            return values;
        }

        public void Write(int index, float[] values)
        {
            LctException.Check(Native.lct_params_set(Ptr, (UIntPtr)index, values, (UIntPtr)values.LongLength));
            GC.KeepAlive(Owner);
        }
    }

    /// <summary>A sequence of layers, built from a spec such as "in 1x28x28; conv2d 32 k3 p1; relu; ...".</summary>
    public sealed class Encoder : LctHandle
    {
        public Encoder(Runtime rt, string spec)
        {
            IntPtr p;
            Adopt(Native.lct_encoder_new_from_spec(out p, rt, spec, IntPtr.Zero), p, rt);
        }

        public long InputSize { get { UIntPtr n; LctException.Check(Native.lct_encoder_input_size(this, out n)); return (long)n; } }
        public long OutputSize { get { UIntPtr n; LctException.Check(Native.lct_encoder_output_size(this, out n)); return (long)n; } }
        public string Spec { get { return Native.Text(Native.lct_encoder_spec(this)); } }
        public Params Params { get { return new Params(this, Native.lct_encoder_params(this)); } }
        /// <summary>Train (1) or evaluation (0) mode.</summary>
        public void SetMode(int mode) { LctException.Check(Native.lct_encoder_set_mode(this, mode)); }
        /// <summary>No more layers (lct_encoder_seal); forward, Params and checkpoints seal it too.</summary>
        public void Seal() { LctException.Check(Native.lct_encoder_seal(this)); }

        public void Forward(float[] x, int batch, float[] y)
        {
            LctException.Need(x, batch, InputSize, "Encoder.Forward", "x");
            LctException.Need(y, batch, OutputSize, "Encoder.Forward", "y");
            LctException.Check(Native.lct_encoder_forward(this, x, (UIntPtr)batch, y));
        }

        /// <summary>Accumulates the parameter gradients; dL/dx into dx unless it is null.</summary>
        public void Backward(float[] dy, int batch, float[] dx = null)
        {
            LctException.Need(dy, batch, OutputSize, "Encoder.Backward", "dy");
            LctException.Need(dx, batch, InputSize, "Encoder.Backward", "dx", true);
            LctException.Check(Native.lct_encoder_backward(this, dy, (UIntPtr)batch, dx));
        }

        protected override void Free(IntPtr h) { Native.lct_encoder_free(h); }
    }

    /// <summary>SGD, Adam or AdamW over the parameter sets attached to it.</summary>
    public sealed class Optimizer : LctHandle
    {
        public Optimizer(Runtime rt, OptimizerOptions options)
        {
            IntPtr p;
            Adopt(Native.lct_optimizer_new(out p, rt, ref options), p, rt);
        }

        /// <summary>Updates this set from now on; its owner stays alive as long as the optimiser.</summary>
        public void Attach(Params set)
        {
            LctException.Check(Native.lct_optimizer_attach(this, set.Ptr));
            Borrow(set.Owner);
        }

        public void Step() { LctException.Check(Native.lct_optimizer_step(this)); }
        public void ZeroGrad() { LctException.Check(Native.lct_optimizer_zero_grad(this)); }
        public double Lr { get { double lr; LctException.Check(Native.lct_optimizer_lr(this, out lr)); return lr; } }
        protected override void Free(IntPtr h) { Native.lct_optimizer_free(h); }
    }

    /// <summary>A memory bank of N rows of D.</summary>
    public sealed class Bank : LctHandle
    {
        public Bank(Runtime rt, long rows, long dim)
        {
            IntPtr p;
            Adopt(Native.lct_bank_new(out p, rt, (UIntPtr)rows, (UIntPtr)dim, IntPtr.Zero), p, rt);
        }

        public long Rows { get { UIntPtr n, d; int s; LctException.Check(Native.lct_bank_info(this, out n, out d, out s)); return (long)n; } }
        public long Dim { get { UIntPtr n, d; int s; LctException.Check(Native.lct_bank_info(this, out n, out d, out s)); return (long)d; } }

        public void Update(float[] f, long[] idx, int batch, float momentum)
        {
            LctException.Need(f, batch, Dim, "Bank.Update", "f");
            LctException.Need(idx, batch, 1, "Bank.Update", "idx");
            LctException.Check(Native.lct_bank_update(this, f, idx, (UIntPtr)batch, momentum));
        }

        protected override void Free(IntPtr h) { Native.lct_bank_free(h); }
    }

    /// <summary>Seeded augmentation pipelines for images (bytes or floats) and signals.</summary>
    public sealed class Augmenter : LctHandle
    {
        public Augmenter(Runtime rt, AugmenterOptions options)
        {
            IntPtr p;
            Adopt(Native.lct_augmenter_new(out p, rt, ref options), p, rt);
        }

        /// <summary>A recipe of an original method: 1 InstDisc, 2 InvaSpread, 3 CMC, 4 CPC.</summary>
        public void Preset(int preset) { LctException.Check(Native.lct_augmenter_preset(this, preset)); }
        public void AddHFlip(double p) { LctException.Check(Native.lct_augmenter_add_hflip(this, p)); }

        public void Apply(byte[] input, int batch, int views, float[] output)
        {
            CheckSizes(input, batch, views, output);
            LctException.Check(Native.lct_augmenter_apply(this, input, (UIntPtr)batch, (UIntPtr)views, output));
        }

        public void Apply(float[] input, int batch, int views, float[] output)
        {
            CheckSizes(input, batch, views, output);
            LctException.Check(Native.lct_augmenter_apply(this, input, (UIntPtr)batch, (UIntPtr)views, output));
        }

        void CheckSizes(Array input, int batch, int views, float[] output)
        {
            UIntPtr inCount, outCount;
            LctException.Check(Native.lct_augmenter_sizes(this, out inCount, out outCount));
            LctException.Need(input, batch, (long)inCount, "Augmenter.Apply", "input");
            LctException.Need(output, (long)batch * views, (long)outCount, "Augmenter.Apply", "output");
        }

        protected override void Free(IntPtr h) { Native.lct_augmenter_free(h); }
    }

    /// <summary>A contrastive objective; made by the static factories, which name the method.</summary>
    public sealed class Loss : LctHandle
    {
        long dim;

        Loss() { }

        /// <summary>InstDisc NCE over a bank (borrowed).</summary>
        public static Loss Nce(Runtime rt, Bank bank, LossNceOptions options)
        {
            var l = new Loss { dim = bank.Dim };
            IntPtr p;
            l.Adopt(Native.lct_loss_new_nce(out p, rt, bank, ref options), p, rt, bank);
            return l;
        }

        /// <summary>InstDisc non-parametric softmax over every row of a bank (borrowed).</summary>
        public static Loss NpSoftmax(Runtime rt, Bank bank)
        {
            var l = new Loss { dim = bank.Dim };
            IntPtr p;
            l.Adopt(Native.lct_loss_new_npsoftmax(out p, rt, bank, IntPtr.Zero), p, rt, bank);
            return l;
        }

        /// <summary>InvaSpread over embeddings of size dim.</summary>
        public static Loss InvaSpread(Runtime rt, long dim)
        {
            var l = new Loss { dim = dim };
            IntPtr p;
            l.Adopt(Native.lct_loss_new_invaspread(out p, rt, (UIntPtr)dim, IntPtr.Zero), p, rt);
            return l;
        }

        /// <summary>lct_loss_param: 1 temperature, 2 Z policy, 3 Z momentum, 4 negative weight.</summary>
        public void SetParam(int param, double value) { LctException.Check(Native.lct_loss_set_param(this, param, value)); }

        /// <summary>NCE or non-parametric softmax: the mean loss of a batch; its gradient into df unless null.</summary>
        public float Compute(float[] f, long[] idx, int batch, float[] df = null)
        {
            int kind = LctException.Check(Native.lct_loss_get_kind(this));
            long rows = kind == 3 ? 2L * batch : batch;
            LctException.Need(f, rows, dim, "Loss.Compute", "f");
            LctException.Need(idx, batch, 1, "Loss.Compute", "idx", kind == 3);
            LctException.Need(df, rows, dim, "Loss.Compute", "df", true);
            float loss;
            switch (kind) {
            case 1: LctException.Check(Native.lct_loss_nce_compute(this, f, idx, (UIntPtr)batch, out loss, df)); break;
            case 2: LctException.Check(Native.lct_loss_npsoftmax_compute(this, f, idx, (UIntPtr)batch, out loss, df)); break;
            case 3: LctException.Check(Native.lct_loss_invaspread_compute(this, f, (UIntPtr)batch, out loss, df)); break;
            default: throw new LctException((int)Status.Invalid, "Libcontrast.Loss.Compute: loss kind " + kind + " is not bound");
            }
            return loss;
        }

        protected override void Free(IntPtr h) { Native.lct_loss_free(h); }
    }

    /// <summary>Collects handles' state and writes one checkpoint file atomically.</summary>
    public sealed class CheckpointWriter : LctHandle
    {
        public CheckpointWriter(Runtime rt)
        {
            IntPtr p;
            Adopt(Native.lct_checkpoint_writer_new(out p, rt, IntPtr.Zero), p, rt);
        }

        public void Add(string name, Encoder enc) { LctException.Check(Native.lct_checkpoint_add_encoder(this, name, enc)); }
        public void Add(string name, Bank bank) { LctException.Check(Native.lct_checkpoint_add_bank(this, name, bank)); }
        public void AddCounter(string name, ulong value) { LctException.Check(Native.lct_checkpoint_add_counter(this, name, value)); }
        public void WriteFile(string path) { LctException.Check(Native.lct_checkpoint_write_file(this, path)); }
        protected override void Free(IntPtr h) { Native.lct_checkpoint_writer_free(h); }
    }

    /// <summary>Opens and verifies a checkpoint, and loads its sections into handles.</summary>
    public sealed class CheckpointReader : LctHandle
    {
        public CheckpointReader(Runtime rt, string path)
        {
            IntPtr p;
            Adopt(Native.lct_checkpoint_reader_open_file(out p, rt, path), p, rt);
        }

        public void Load(string name, Encoder enc) { LctException.Check(Native.lct_checkpoint_load_encoder(this, name, enc)); }
        public void Load(string name, Bank bank) { LctException.Check(Native.lct_checkpoint_load_bank(this, name, bank)); }
        public ulong Counter(string name) { ulong v; LctException.Check(Native.lct_checkpoint_get_counter(this, name, out v)); return v; }
        protected override void Free(IntPtr h) { Native.lct_checkpoint_reader_free(h); }
    }

    /// <summary>The library's version.</summary>
    public static class Library
    {
        public static int VersionNumber { get { return Native.lct_version_number(); } }
        public static string Version { get { return Native.Text(Native.lct_version_string()); } }
        public static string LastError { get { return Native.Text(Native.lct_error_last()); } }
    }

    /// <summary>The C functions, as the library exports them (size_t is UIntPtr).</summary>
    static class Native
    {
#if UNITY_IOS && !UNITY_EDITOR
        const string Lib = "__Internal"; // linked statically into the player
#else
        const string Lib = "libcontrast";
#endif

        internal static string Text(IntPtr p) { return p == IntPtr.Zero ? "" : Marshal.PtrToStringAnsi(p); }

        internal delegate int OptionsInit<T>(ref T options, uint version);

        /// <summary>An option struct filled by its lct_*_options_init for the struct version the binding knows.</summary>
        internal static T Defaults<T>(OptionsInit<T> init, uint version) where T : struct
        {
            T o = default(T);
            LctException.Check(init(ref o, version));
            return o;
        }

        [DllImport(Lib)] internal static extern IntPtr lct_status_string(int status);
        [DllImport(Lib)] internal static extern IntPtr lct_error_last();
        [DllImport(Lib)] internal static extern int lct_version_number();
        [DllImport(Lib)] internal static extern IntPtr lct_version_string();

        [DllImport(Lib)] internal static extern int lct_runtime_options_init(ref RuntimeOptions o, uint version);
        [DllImport(Lib)] internal static extern int lct_runtime_new(out IntPtr rt, ref RuntimeOptions o);
        [DllImport(Lib)] internal static extern void lct_runtime_free(IntPtr rt);
        [DllImport(Lib)] internal static extern int lct_runtime_threads(Runtime rt);
        [DllImport(Lib)] internal static extern ulong lct_runtime_seed(Runtime rt);
        [DllImport(Lib)] internal static extern IntPtr lct_runtime_kernel(Runtime rt, IntPtr source);

        [DllImport(Lib)] internal static extern int lct_params_count(IntPtr p);
        [DllImport(Lib)] internal static extern int lct_params_info(IntPtr p, UIntPtr index, out IntPtr name, out UIntPtr count, out int trainable);
        [DllImport(Lib)] internal static extern int lct_params_get(IntPtr p, UIntPtr index, [Out] float[] dst, UIntPtr count);
        [DllImport(Lib)] internal static extern int lct_params_set(IntPtr p, UIntPtr index, float[] src, UIntPtr count);

        [DllImport(Lib)] internal static extern int lct_encoder_new_from_spec(out IntPtr enc, Runtime rt, string spec, IntPtr opts);
        [DllImport(Lib)] internal static extern void lct_encoder_free(IntPtr enc);
        [DllImport(Lib)] internal static extern int lct_encoder_input_size(Encoder enc, out UIntPtr size);
        [DllImport(Lib)] internal static extern int lct_encoder_output_size(Encoder enc, out UIntPtr size);
        [DllImport(Lib)] internal static extern IntPtr lct_encoder_spec(Encoder enc);
        [DllImport(Lib)] internal static extern IntPtr lct_encoder_params(Encoder enc);
        [DllImport(Lib)] internal static extern int lct_encoder_set_mode(Encoder enc, int mode);
        [DllImport(Lib)] internal static extern int lct_encoder_seal(Encoder enc);
        [DllImport(Lib)] internal static extern int lct_encoder_forward(Encoder enc, float[] x, UIntPtr batch, [Out] float[] y);
        [DllImport(Lib)] internal static extern int lct_encoder_backward(Encoder enc, float[] dy, UIntPtr batch, [Out] float[] dx);

        [DllImport(Lib)] internal static extern int lct_optimizer_options_init(ref OptimizerOptions o, uint version);
        [DllImport(Lib)] internal static extern int lct_optimizer_new(out IntPtr opt, Runtime rt, ref OptimizerOptions o);
        [DllImport(Lib)] internal static extern void lct_optimizer_free(IntPtr opt);
        [DllImport(Lib)] internal static extern int lct_optimizer_attach(Optimizer opt, IntPtr p);
        [DllImport(Lib)] internal static extern int lct_optimizer_step(Optimizer opt);
        [DllImport(Lib)] internal static extern int lct_optimizer_zero_grad(Optimizer opt);
        [DllImport(Lib)] internal static extern int lct_optimizer_lr(Optimizer opt, out double lr);

        [DllImport(Lib)] internal static extern int lct_bank_new(out IntPtr bank, Runtime rt, UIntPtr n, UIntPtr d, IntPtr opts);
        [DllImport(Lib)] internal static extern void lct_bank_free(IntPtr bank);
        [DllImport(Lib)] internal static extern int lct_bank_info(Bank bank, out UIntPtr n, out UIntPtr d, out int storage);
        [DllImport(Lib)] internal static extern int lct_bank_update(Bank bank, float[] f, long[] idx, UIntPtr batch, float momentum);

        [DllImport(Lib)] internal static extern int lct_augmenter_options_init(ref AugmenterOptions o, uint version);
        [DllImport(Lib)] internal static extern int lct_augmenter_new(out IntPtr aug, Runtime rt, ref AugmenterOptions o);
        [DllImport(Lib)] internal static extern void lct_augmenter_free(IntPtr aug);
        [DllImport(Lib)] internal static extern int lct_augmenter_sizes(Augmenter aug, out UIntPtr inCount, out UIntPtr outCount);
        [DllImport(Lib)] internal static extern int lct_augmenter_preset(Augmenter aug, int preset);
        [DllImport(Lib)] internal static extern int lct_augmenter_add_hflip(Augmenter aug, double p);
        [DllImport(Lib)] internal static extern int lct_augmenter_apply(Augmenter aug, byte[] input, UIntPtr batch, UIntPtr views, [Out] float[] output);
        [DllImport(Lib)] internal static extern int lct_augmenter_apply(Augmenter aug, float[] input, UIntPtr batch, UIntPtr views, [Out] float[] output);

        [DllImport(Lib)] internal static extern int lct_loss_nce_options_init(ref LossNceOptions o, uint version);
        [DllImport(Lib)] internal static extern int lct_loss_new_nce(out IntPtr loss, Runtime rt, Bank bank, ref LossNceOptions o);
        [DllImport(Lib)] internal static extern int lct_loss_new_npsoftmax(out IntPtr loss, Runtime rt, Bank bank, IntPtr opts);
        [DllImport(Lib)] internal static extern int lct_loss_new_invaspread(out IntPtr loss, Runtime rt, UIntPtr dim, IntPtr opts);
        [DllImport(Lib)] internal static extern void lct_loss_free(IntPtr loss);
        [DllImport(Lib)] internal static extern int lct_loss_get_kind(Loss loss);
        [DllImport(Lib)] internal static extern int lct_loss_set_param(Loss loss, int param, double value);
        [DllImport(Lib)] internal static extern int lct_loss_nce_compute(Loss loss, float[] f, long[] idx, UIntPtr batch, out float value, [Out] float[] df);
        [DllImport(Lib)] internal static extern int lct_loss_npsoftmax_compute(Loss loss, float[] f, long[] idx, UIntPtr batch, out float value, [Out] float[] df);
        [DllImport(Lib)] internal static extern int lct_loss_invaspread_compute(Loss loss, float[] x, UIntPtr batch, out float value, [Out] float[] dx);

        [DllImport(Lib)] internal static extern int lct_checkpoint_writer_new(out IntPtr w, Runtime rt, IntPtr opts);
        [DllImport(Lib)] internal static extern void lct_checkpoint_writer_free(IntPtr w);
        [DllImport(Lib)] internal static extern int lct_checkpoint_add_encoder(CheckpointWriter w, string name, Encoder enc);
        [DllImport(Lib)] internal static extern int lct_checkpoint_add_bank(CheckpointWriter w, string name, Bank bank);
        [DllImport(Lib)] internal static extern int lct_checkpoint_add_counter(CheckpointWriter w, string name, ulong value);
        [DllImport(Lib)] internal static extern int lct_checkpoint_write_file(CheckpointWriter w, string path);
        [DllImport(Lib)] internal static extern int lct_checkpoint_reader_open_file(out IntPtr r, Runtime rt, string path);
        [DllImport(Lib)] internal static extern void lct_checkpoint_reader_free(IntPtr r);
        [DllImport(Lib)] internal static extern int lct_checkpoint_load_encoder(CheckpointReader r, string name, Encoder enc);
        [DllImport(Lib)] internal static extern int lct_checkpoint_load_bank(CheckpointReader r, string name, Bank bank);
        [DllImport(Lib)] internal static extern int lct_checkpoint_get_counter(CheckpointReader r, string name, out ulong value);
    }
}
