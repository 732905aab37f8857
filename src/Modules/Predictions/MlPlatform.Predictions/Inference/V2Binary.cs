using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// The binary tensor data extension of the V2 protocol (Triton's, which KServe's servers and
/// Python clients also speak; tritonclient sends binary by default): the JSON object first, its
/// length in the <c>Inference-Header-Content-Length</c> header, then each binary tensor's bytes in
/// the order of the tensors that name a <c>binary_data_size</c>. Elements are little-endian,
/// row-major, unpadded; BOOL is one byte 0 or 1; BYTES is a 4-byte length before each element.
/// </summary>
/// <remarks>The platform runs on little-endian processors (x64, arm64), so fixed-width elements are copied as they lie.</remarks>
public static class V2Binary
{
    public const string HeaderName = "Inference-Header-Content-Length";

    public const string Extension = "binary_tensor_data";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Bytes per element; 0 for BYTES, whose elements carry their own lengths.</summary>
    public static int Width(string datatype) => datatype switch
    {
        Datatypes.Fp64 or Datatypes.Int64 or Datatypes.Uint64 => 8,
        Datatypes.Fp32 or Datatypes.Int32 or Datatypes.Uint32 => 4,
        Datatypes.Fp16 or Datatypes.Bf16 or Datatypes.Int16 or Datatypes.Uint16 => 2,
        Datatypes.Int8 or Datatypes.Uint8 or Datatypes.Bool => 1,
        _ => 0,
    };

    /// <summary>The JSON part's length from the request header: null without the header; 400 when it is not a length within the body.</summary>
    public static int? JsonLength(string? header, int bodyLength)
    {
        if (header is null)
        {
            return null;
        }

        return int.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var length) && length <= bodyLength
            ? length
            : throw new BadRequestException($"{HeaderName} must be the length of the request's JSON part: a whole number from 0 to the body's {bodyLength} bytes.");
    }

    /// <summary>One input tensor from its binary section, checked against its shape and datatype.</summary>
    public static TensorData ReadTensor(string name, string datatype, long[] shape, int count, ReadOnlySpan<byte> bytes)
    {
        var width = Width(datatype);
        if (width == 0)
        {
            // Checked before allocating: every element takes at least its 4-byte length.
            if ((long)count * sizeof(uint) > bytes.Length)
            {
                throw new BadRequestException($"input '{name}': binary_data_size is {bytes.Length} bytes, too few for {count} BYTES elements with their 4-byte lengths.");
            }

            var strings = (string[])Datatypes.Allocate(datatype, count);
            ReadStrings(name, strings, bytes);
            return new TensorData(name, datatype, shape, strings);
        }

        if (bytes.Length != (long)count * width)
        {
            throw new BadRequestException($"input '{name}': binary_data_size is {bytes.Length} bytes; shape [{TensorBinding.Describe(shape)}] of {datatype} needs {(long)count * width}.");
        }

        if (datatype == Datatypes.Bool)
        {
            var notABoolean = bytes.IndexOfAnyExcept((byte)0, (byte)1);
            if (notABoolean >= 0)
            {
                throw new BadRequestException($"input '{name}': element {notABoolean} is the byte {bytes[notABoolean]}, not a boolean (0 or 1).");
            }
        }

        var values = Datatypes.Allocate(datatype, count);
        bytes.CopyTo(Bytes(values, bytes.Length));
        return new TensorData(name, datatype, shape, values);
    }

    private static void ReadStrings(string name, string[] strings, ReadOnlySpan<byte> bytes)
    {
        var offset = 0;
        for (var i = 0; i < strings.Length; i++)
        {
            if (bytes.Length - offset < sizeof(uint))
            {
                throw new BadRequestException($"input '{name}': the binary data ends before element {i}'s 4-byte length.");
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[offset..]);
            offset += sizeof(uint);
            if (length > (uint)(bytes.Length - offset))
            {
                throw new BadRequestException($"input '{name}': element {i} is {length} bytes long, past the end of its binary data.");
            }

            try
            {
                strings[i] = StrictUtf8.GetString(bytes.Slice(offset, (int)length));
            }
            catch (DecoderFallbackException)
            {
                throw new BadRequestException($"input '{name}': element {i} is not UTF-8 text.");
            }

            offset += (int)length;
        }

        if (offset != bytes.Length)
        {
            throw new BadRequestException($"input '{name}': binary_data_size is {bytes.Length} bytes; its {strings.Length} elements take {offset}.");
        }
    }

    /// <summary>The size of an output's binary section.</summary>
    public static long Size(TensorData tensor)
    {
        if (tensor.Data is not string[] strings)
        {
            return (long)tensor.Data.Length * Width(tensor.Datatype);
        }

        var size = 0L;
        foreach (var s in strings)
        {
            size += sizeof(uint) + Encoding.UTF8.GetByteCount(s);
        }

        return size;
    }

    /// <summary>An output's binary section, appended to the answer after its JSON.</summary>
    public static void Write(IBufferWriter<byte> buffer, TensorData tensor)
    {
        if (tensor.Data is string[] strings)
        {
            foreach (var s in strings)
            {
                var length = Encoding.UTF8.GetByteCount(s);
                var span = buffer.GetSpan(sizeof(uint) + length);
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)length);
                Encoding.UTF8.GetBytes(s, span[sizeof(uint)..]);
                buffer.Advance(sizeof(uint) + length);
            }

            return;
        }

        var size = checked((int)Size(tensor));
        buffer.Write(Bytes(tensor.Data, size));
    }

    /// <summary>The memory of an array of a fixed-width element type, as bytes.</summary>
    private static Span<byte> Bytes(Array values, int length) =>
        MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(values), length);
}
