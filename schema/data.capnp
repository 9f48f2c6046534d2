@0xa0b36d3813d072a3;
# Dataset shards: one `Sample` per record. A shard file is the 8 bytes
# "TTTSHRD1", then records of [u32 length][u32 CRC-32 of the bytes][the bytes
# of one flat, unpacked Cap'n Proto message], all little-endian, so a reader
# can stream it and name the record where it is truncated or corrupt.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct Sample {
  # One caption and its image as codes of a patch codebook or a VQGAN.
  caption @0 :Text;           # UTF-8, as written by the dataset
  textIds @1 :List(Int32);    # tokenizer ids, padded with 0 to the text length; 0 is padding
  imageCodes @2 :List(Int16); # row-major grid of codes (32x32 in the 2021 run)
  width @3 :UInt32;           # size of the original image in pixels (the aspect-ratio filter)
  height @4 :UInt32;
  nsfw @5 :Bool;              # flagged unsafe by the dataset; the 2021 filters drop it
}
