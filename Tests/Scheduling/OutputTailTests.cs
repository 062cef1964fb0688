using System.Text;
using JobScheduler.Scheduling;

namespace JobScheduler.Tests.Scheduling;

[TestClass]
public sealed class OutputTailTests
{
    [TestMethod]
    public void ToText_UnderCapacity_KeepsEverything()
    {
        var tail = new OutputTail(16);

        tail.Append("hello "u8);
        tail.Append("world"u8);

        Assert.AreEqual("hello world", tail.ToText());
    }

    [TestMethod]
    public void ToText_ManySmallWritesWrapping_KeepsLastBytesInOrder()
    {
        var tail = new OutputTail(10);
        var all = new StringBuilder();

        for (var i = 0; i < 37; i++)
        {
            var piece = ((char)('a' + i % 26)).ToString() + (i % 3 == 0 ? "-" : "");
            all.Append(piece);
            tail.Append(Encoding.ASCII.GetBytes(piece));
        }

        var text = all.ToString();
        Assert.AreEqual(
            $"[output cut: the first {text.Length - 10} of {text.Length} bytes were dropped]\n" +
            text[^10..],
            tail.ToText());
    }

    [TestMethod]
    public void ToText_OneWriteLargerThanCapacity_KeepsItsEnd()
    {
        var tail = new OutputTail(4);

        tail.Append("ab"u8);
        tail.Append("0123456789"u8);

        Assert.AreEqual("[output cut: the first 8 of 12 bytes were dropped]\n6789", tail.ToText());
    }
}
